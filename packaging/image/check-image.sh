#!/usr/bin/env bash
# Checks an image built by 'mvn -Pimage -pl packaging package' without a container runtime: unpacks its layers (OCI
# layout, in the manifest's order) into a root file system and runs the image's entrypoint there with chroot, as
# the image's user: 'arbor generate' on the embedded default pipeline must print text, and 'arbor serve' (the
# image's command, on a free loopback port) must answer the chart's readiness probe /v2/health/ready with 200 and
# exit 143 after SIGTERM. Needs root (chroot, and /proc bound into the root), python3 and curl. Usage: packaging/image/check-image.sh [IMAGE.tar]   (default packaging/target/arbor-image.tar)
set -euo pipefail
IMAGE=$(realpath "${1:-$(dirname "$0")/../target/arbor-image.tar}")
WORK=$(mktemp -d)
cleanup() { umount "$WORK/rootfs/proc" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
tar -C "$WORK" -xf "$IMAGE"
python3 - "$WORK" <<'PY'
import json, os, subprocess, sys
work = sys.argv[1]
def blob(digest):
    return os.path.join(work, "blobs", *digest.split(":"))
index = json.load(open(os.path.join(work, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
root = os.path.join(work, "rootfs")
os.makedirs(root)
for layer in manifest["layers"]:
    subprocess.run(["tar", "--warning=no-unknown-keyword", "-C", root, "-xzf", blob(layer["digest"])], check=True)
c = config["config"]
with open(os.path.join(work, "run.json"), "w") as f:
    json.dump({"entrypoint": c.get("Entrypoint", []), "cmd": c.get("Cmd", []), "env": c.get("Env", []),
               "user": c.get("User", "0"), "workdir": c.get("WorkingDir", "/")}, f)
print("layers:", len(manifest["layers"]), "entrypoint:", c.get("Entrypoint"), "cmd:", c.get("Cmd"), "user:", c.get("User"))
PY
ROOT="$WORK/rootfs"
mkdir -p "$ROOT/proc"
mount --bind /proc "$ROOT/proc"
ENTRY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['entrypoint'][0])" "$WORK/run.json")
USER_ID=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['user'])" "$WORK/run.json")
mapfile -t ENV < <(python3 -c "import json,sys;print('\n'.join(json.load(open(sys.argv[1]))['env']))" "$WORK/run.json")
# the cache the chart mounts as an emptyDir: writable by the image's user here too
chown "$USER_ID" "$ROOT/var/cache/arbor" 2>/dev/null || mkdir -p "$ROOT/var/cache/arbor"
CHROOT=$(command -v chroot)
TEXT=$(env -i "${ENV[@]}" "$CHROOT" --userspec="$USER_ID:$USER_ID" "$ROOT" "$ENTRY" generate --temperature 0 \
  --max-tokens 24 "Once upon a time")
if [ -z "$TEXT" ]; then
  echo "check-image: the image's arbor generate printed nothing" >&2
  exit 1
fi
echo "check-image: the image runs; arbor generate: Once upon a time$TEXT"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i "${ENV[@]}" "$CHROOT" --userspec="$USER_ID:$USER_ID" "$ROOT" "$ENTRY" serve --host 127.0.0.1 \
  --port "$PORT" --no-admin > "$WORK/serve.log" 2>&1 &
SERVER=$!
# ready once the log says so (no fixed wait), then the probe
for _ in $(seq 1 1200); do
  grep -q "Arbor serving" "$WORK/serve.log" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "check-image: arbor serve exited" >&2; exit 1; }
  sleep 0.1
done
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/ready")
kill -TERM "$SERVER"
set +e; wait "$SERVER"; EXIT=$?; set -e
if [ "$STATUS" != 200 ] || [ "$EXIT" != 143 ]; then
  tail -20 "$WORK/serve.log" >&2
  echo "check-image: /v2/health/ready answered $STATUS (want 200), exit status $EXIT after SIGTERM (want 143)" >&2
  exit 1
fi
echo "check-image: arbor serve in the image: /v2/health/ready 200, exit 143 after SIGTERM"

#!/usr/bin/env bash
# Writes a base image for the Arbor image without any registry: a 'docker save' tarball (one layer) holding a Java
# 17 runtime made with jlink from this machine's JDK, the shared libraries it and Arbor's native backends (ONNX
# Runtime, PyTorch) load, /bin/sh and dirname for bin/arbor, and an unprivileged user 65532. Everything comes from
# the Debian packages installed here (openjdk-17-jdk-headless, libc6, libstdc++6, libgcc-s1, libgomp1, dash,
# coreutils); the result is for proving the image build offline and for air-gapped sites, not a maintained base:
# real deployments use a JRE 17 image from their registry (the packaging module's default, eclipse-temurin:17-jre).
#
# Usage: packaging/image/host-jre-base.sh OUT.tar
#   then: mvn -Pimage -pl packaging package -Darbor.image.base=tar://$(realpath OUT.tar)
set -euo pipefail
OUT=$(realpath -m "${1:?usage: host-jre-base.sh OUT.tar}")
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
mkdir -p "$ROOT"/{bin,usr/bin,etc,tmp,opt,models,var/cache/arbor}
chmod 1777 "$ROOT/tmp"

# 1. the runtime: every module of the JDK's jmods that a server needs (java.se plus the unsupported API that
#    sun.misc.Signal lives in, the zip file system, elliptic-curve TLS, management for JMX metrics)
"$JAVA_HOME/bin/jlink" --module-path "$JAVA_HOME/jmods" \
  --add-modules java.se,jdk.unsupported,jdk.zipfs,jdk.crypto.ec,jdk.management,jdk.localedata \
  --strip-debug --no-man-pages --no-header-files --output "$ROOT/opt/java"

# 2. what bin/arbor runs besides java: its interpreter line (#!/usr/bin/env sh), the shell, dirname
cp -L /bin/sh "$ROOT/bin/sh"
cp -L /usr/bin/env "$ROOT/usr/bin/env"
cp -L "$(command -v dirname)" "$ROOT/usr/bin/dirname"

# 3. shared libraries: every shared library of the Debian packages the runtime and the native backends (ONNX
#    Runtime, PyTorch: unpacked from nested jars at run time, so ldd cannot see them here) link against, plus the
#    closure (ldd) of the runtime and the tools above, in case the JDK links one more
# Debian's merged /usr: /lib and /lib64 are links into /usr (packages list files under both names)
mkdir -p "$ROOT/usr/lib" "$ROOT/usr/lib64"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"
copy_lib() {
  local lib=$1
  [ -e "$ROOT$lib" ] && return 0
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -a "$lib" "$ROOT$lib"
  # a symbolic link (libfoo.so.6 -> libfoo.so.6.0.30) brings its target
  if [ -L "$lib" ]; then copy_lib "$(readlink -f "$lib")"; fi
}
for pkg in libc6 libstdc++6 libgcc-s1 libgomp1 zlib1g; do
  dpkg -L "$pkg:amd64" >/dev/null 2>&1 || { echo "host-jre-base: Debian package $pkg is not installed" >&2; exit 1; }
  dpkg -L "$pkg:amd64" | grep -E '\.so(\.[0-9]+)*$' | while read -r lib; do
    if [ -f "$lib" ]; then copy_lib "$lib"; fi
  done
done
BINARIES=("$ROOT/bin/sh" "$ROOT/usr/bin/env" "$ROOT/usr/bin/dirname")
while IFS= read -r -d '' f; do BINARIES+=("$f"); done < <(find "$ROOT/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) -print0)
for bin in "${BINARIES[@]}"; do
  # 'ldd' prints 'name => /path (addr)' and the loader as '/lib64/ld-linux-x86-64.so.2 (addr)'
  ldd "$bin" 2>/dev/null | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | while read -r lib; do
    copy_lib "$lib"
  done
done

# 4. users: root and the unprivileged user the image runs as
printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ROOT/etc/group"
mkdir -p "$ROOT/home/nonroot"
chown 65532:65532 "$ROOT/home/nonroot" "$ROOT/var/cache/arbor"

# 5. the 'docker save' layout: one layer, its config, the manifest
mkdir -p "$WORK/image"
tar -C "$ROOT" --numeric-owner --sort=name --mtime='2000-01-01 00:00Z' -cf "$WORK/image/layer.tar" .
DIFF_ID=$(sha256sum "$WORK/image/layer.tar" | cut -d' ' -f1)
cat > "$WORK/image/config.json" <<JSON
{"architecture":"amd64","os":"linux",
 "config":{"Env":["PATH=/opt/java/bin:/usr/bin:/bin","JAVA_HOME=/opt/java","LANG=C.UTF-8"],"User":"65532"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$DIFF_ID"]}}
JSON
echo '[{"Config":"config.json","RepoTags":["arbor-host-jre:17"],"Layers":["layer.tar"]}]' > "$WORK/image/manifest.json"
tar -C "$WORK/image" -cf "$OUT" manifest.json config.json layer.tar
echo "host-jre-base: wrote $OUT ($(du -h "$OUT" | cut -f1); java $("$ROOT/opt/java/bin/java" -version 2>&1 | head -1))"

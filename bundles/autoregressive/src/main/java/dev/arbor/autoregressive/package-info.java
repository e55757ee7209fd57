/**
 * The shared steps of the autoregressive decoding family (plain decoding, speculative and prompt-lookup decoding,
 * speculative trees, Jacobi and grouped speculative decoding, classifier-free guidance): the checks before any
 * forward and during a step ({@link dev.arbor.autoregressive.DecodeChecks}: prompt, sampler chain, logit rows,
 * selected ids, with the messages users see), the request's budget decided in one place
 * ({@link dev.arbor.autoregressive.DecodeLimits}: {@code max_tokens}, option {@code max_new_tokens}, the context;
 * option {@code use_cache}), the per-token commit step ({@link dev.arbor.autoregressive.TokenOutput}: stop ids,
 * history, recording, streaming, finish reasons, the result), a single-row KV cache with prefill, step and rollback
 * ({@link dev.arbor.autoregressive.KvCache}), and the one reader of options naming further models, drafts and
 * guides ({@link dev.arbor.autoregressive.ModelOptions}). Stop strings are not a loop's concern: the platform's
 * text streamer applies them and answers false from the sink, which {@code TokenOutput} turns into STOP.
 *
 * <p><b>Randomness.</b> All of a request's randomness comes from one RNG, seeded with the request's seed:
 * {@code new TokenOutput(context, sink, prompt, budget)} builds the history the chain sees
 * ({@code output.history()}) around it, and {@code output.random()} is that RNG; a loop that draws for itself
 * (acceptance tests, fresh drafts) draws from it, in an order it documents, so a seed reproduces the output.
 *
 * <p><b>Adding a loop.</b> A {@code Generator} whose step is "forward, sample, commit" needs only this:
 * <pre>{@code
 * int[] prompt = context.prompt().clone();
 * DecodeChecks.validatePrompt(prompt, card);
 * int budget = DecodeLimits.budget(context, prompt.length);
 * Sampler sampler = DecodeChecks.sampler(context);
 * TokenOutput output = new TokenOutput(context, sink, prompt, budget); // history + the request's seeded RNG
 * SamplingContext history = output.history();
 * int forwards = 0;
 * try (KvCache cache = new KvCache(model)) {
 *     int[] feed = prompt;                                        // prefill, then one token per step
 *     while (output.hasRoom() && !output.cancelled()) {
 *         float[] logits = DecodeChecks.checkedCopy(cache.appendLast(feed).last(0), card);
 *         forwards++;
 *         Selection s = sampler.sample(logits, history);          // processors + selector, request RNG
 *         DecodeChecks.checkToken(s.token(), card);
 *         if (!output.commit(s.token(), s)) break;                // stop id, append, record, stream
 *         feed = new int[] {s.token()};
 *     }
 * }
 * return output.result(forwards, stats);
 * }</pre>
 * A loop that decides several tokens per forward (drafts) feeds them with {@link
 * dev.arbor.autoregressive.KvCache#append} and the logit rows it needs, commits the accepted ones in order, and
 * {@link dev.arbor.autoregressive.KvCache#rollback rolls back} the rest; one that needs a further model reads it
 * with {@link dev.arbor.autoregressive.ModelOptions#draft} or {@link
 * dev.arbor.autoregressive.ModelOptions#required} and opens it with {@code context.models().open(ref)}.
 * {@code AutoregressiveGenerator} is the whole example; {@code SpeculativeDecoding} and {@code JacobiDecoder} the
 * multi-token ones. Tests: the testkit's {@code ToyCausalBackend} and {@code TestContexts}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.autoregressive;

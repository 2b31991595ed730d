import Foundation
import NN
import Replicate
import TensorCore

// Batched autoregressive generation with KV caches, for the vanilla GPT and the Block
// Transformer, timed and with the bytes of every cache that was allocated.

/// How a generation went: the tokens, where the time went, and the caches it held.
public struct Generation: Sendable {
    /// (B, G) generated tokens, row-major.
    public var tokens: [Int32]
    /// Prompt processing up to (and including) the logits of the first generated token.
    public var firstTokenSeconds: Double
    public var totalSeconds: Double
    /// Bytes of every KV cache allocated (keys and values, float32), all sequences together.
    public var cacheBytes: Int
    /// Cached positions × layers actually filled at the end, per sequence (the "entries" of the notes' §4).
    public var cacheEntries: Int
}

/// Next tokens (B) from logits (B, V): the argmax (first on ties) at temperature 0, else a draw
/// from softmax(logits / temperature).
public func sampleTokens(_ logits: Tensor, temperature: Float, rng: inout RNG) -> [Int32] {
    let v = logits.shape.last!, b = logits.count / v
    return (0..<b).map { r in
        let x = logits.data + r * v
        if temperature == 0 {
            var best = 0
            for j in 1..<v where x[j] > x[best] { best = j }
            return Int32(best)
        }
        var mx = -Float.infinity
        for j in 0..<v { mx = max(mx, x[j] / temperature) }
        var p = [Double](repeating: 0, count: v), sum = 0.0
        for j in 0..<v { p[j] = Foundation.exp(Double(x[j] / temperature - mx)); sum += p[j] }
        var u = Double(rng.nextFloat()) * sum
        for j in 0..<v { u -= p[j]; if u < 0 { return Int32(j) } }
        return Int32(v - 1)
    }
}

/// Vanilla: one prefill pass over the prompts (B, P), then one cached step per token; its
/// cache holds every layer's keys and values of all P + G positions.
public func generate(_ model: GPT, prompts: [Int32], batch: Int, count: Int, temperature: Float = 0, seed: UInt64 = 0) -> Generation {
    let p = prompts.count / batch
    precondition(p >= 1 && count >= 1 && p + count <= model.config.blockSize, "prompt \(p) + \(count) tokens exceed the context \(model.config.blockSize)")
    var rng = RNG(seed: seed)
    let wasTraining = model.training
    model.training = false
    defer { model.training = wasTraining }
    let start = now()
    let cache = model.makeKVCache(batch: batch, capacity: p + count - 1)
    var next = sampleTokens(model.prefill(prompts, batch: batch, cache: cache), temperature: temperature, rng: &rng)
    let first = now() - start
    var out = [Int32](repeating: 0, count: batch * count)
    for g in 0..<count {
        for b in 0..<batch { out[b * count + g] = next[b] }
        if g + 1 < count { next = sampleTokens(model.step(next, cache: cache), temperature: temperature, rng: &rng) }
    }
    return Generation(tokens: out, firstTokenSeconds: first, totalSeconds: now() - start, cacheBytes: cache.bytes,
                      cacheEntries: cache.length * model.config.nLayer)
}

extension BlockTransformer {
    /// How many pad tokens put a prompt of `length` on a block boundary.
    public func leftPadding(_ length: Int) -> Int { (config.blockLength - length % config.blockLength) % config.blockLength }

    /// The paper's `generate`: the prompts (B, P), left-padded to whole blocks, go through the
    /// block decoder once (its only prefill). Then, per block: the last context embedding
    /// expands into p prefix tokens, the token decoder (cache reset, at most p + L − 1
    /// positions) decodes the block's L tokens one by one, and the finished block is embedded
    /// and fed to the block decoder as one cached step.
    public func generate(prompts: [Int32], batch: Int, count: Int, temperature: Float = 0, seed: UInt64 = 0) -> Generation {
        let l = config.blockLength, d = config.nEmbd, plen = prompts.count / batch, pad = leftPadding(plen)
        let promptBlocks = (plen + pad) / l, totalBlocks = (plen + pad + count + l - 1) / l
        precondition(plen >= 1 && count >= 1 && plen * batch == prompts.count, "prompts of \(prompts.count) tokens for batch \(batch)")
        precondition(totalBlocks * l <= config.maxContext, "prompt \(plen) + \(count) tokens exceed the context \(config.maxContext)")
        var rng = RNG(seed: seed)
        let wasTraining = training
        training = false
        defer { training = wasTraining }
        return noGrad {
            let start = now()
            var ids: [Int32] = []
            for b in 0..<batch { ids += [Int32](repeating: padID, count: pad) + prompts[(b * plen)..<((b + 1) * plen)] }
            // The block decoder's cache takes every block but the last, which nothing follows.
            let blockCache = blockDecoder.makeCache(batch: batch, capacity: max(totalBlocks - 1, promptBlocks))
            let tokenCache = tokenDecoder.makeCache(batch: batch, capacity: config.tokenContext)
            let ctx = blockDecoder.prefill(embedBlocks(ids, batch: batch, blocks: promptBlocks), cache: blockCache)
            var context = ctx.slice(axis: 1, (promptBlocks - 1)..<promptBlocks).reshape([batch, d])   // (B, D)
            var out = [Int32](repeating: 0, count: batch * count)
            var first = 0.0, produced = 0, tokenEntries = 0
            while produced < count {
                tokenCache.reset()
                var h = tokenDecoder.prefill(prefixes(context), cache: tokenCache)                  // (B, p, D)
                h = h.slice(axis: 1, (config.prefixLength - 1)..<config.prefixLength).reshape([batch, d])
                var block = [Int32](repeating: 0, count: batch * l)
                for j in 0..<l {
                    let next = sampleTokens(lmHead(h), temperature: temperature, rng: &rng)
                    if produced == 0 && j == 0 { first = now() - start }
                    for b in 0..<batch {
                        block[b * l + j] = next[b]
                        if produced + j < count { out[b * count + produced + j] = next[b] }
                    }
                    if j + 1 < l && produced + j + 1 < count { h = tokenDecoder.step(tokenEmbedding(next, shape: [batch]), cache: tokenCache) }
                    if produced + j + 1 == count { break }
                }
                tokenEntries = max(tokenEntries, tokenCache.length)
                produced += l
                if produced < count {
                    context = blockDecoder.step(embedBlocks(block, batch: batch, blocks: 1).reshape([batch, d]), cache: blockCache)
                }
            }
            return Generation(tokens: out, firstTokenSeconds: first, totalSeconds: now() - start,
                              cacheBytes: blockCache.bytes + tokenCache.bytes,
                              cacheEntries: blockCache.length * config.blockLayers + tokenEntries * config.tokenLayers)
        }
    }

    /// The next-token logits (B, V) after `sequence` (B, S) without any cache: the sequence is
    /// left-padded as `generate` pads its prompt of `promptLength`, the block decoder runs over
    /// every complete block, and the token decoder over the prefix and the current block's
    /// tokens. What `generate` must agree with.
    public func uncachedNextLogits(_ sequence: [Int32], batch: Int, promptLength: Int) -> Tensor {
        let l = config.blockLength, d = config.nEmbd, s = sequence.count / batch, pad = leftPadding(promptLength)
        return noGrad {
            var ids: [Int32] = []
            for b in 0..<batch { ids += [Int32](repeating: padID, count: pad) + sequence[(b * s)..<((b + 1) * s)] }
            let total = s + pad, complete = total / l, inBlock = total % l
            var done: [Int32] = []
            for b in 0..<batch { done += ids[(b * total)..<(b * total + complete * l)] }
            let ctx = contexts(done, batch: batch, time: complete * l).slice(axis: 1, (complete - 1)..<complete).reshape([batch, d])
            var parts = [prefixes(ctx)]
            if inBlock > 0 {
                var current: [Int32] = []
                for b in 0..<batch { current += ids[(b * total + complete * l)..<((b + 1) * total)] }
                parts.append(tokenEmbedding(current, shape: [batch, inBlock]))
            }
            let h = tokenDecoder(concat(parts, axis: 1))
            let last = config.prefixLength - 1 + inBlock
            return lmHead(h.slice(axis: 1, last..<(last + 1)).reshape([batch, d]))
        }
    }
}

/// KV-cache bytes per sequence of a generation of `length` tokens, from the notes' §4 (float32,
/// keys and values, width D): vanilla keeps every position in each of its N layers; the block
/// decoder one entry per block in N_B layers, the token decoder p + L − 1 in N_T layers.
public func vanillaCacheBytes(layers: Int, width: Int, length: Int) -> Int { 2 * 4 * width * layers * length }

public func blockCacheBytes(_ c: BlockConfig, length: Int, promptLength: Int) -> Int {
    let pad = (c.blockLength - promptLength % c.blockLength) % c.blockLength
    let blocks = max((pad + length + c.blockLength - 1) / c.blockLength - 1, (pad + promptLength) / c.blockLength)
    return 2 * 4 * c.nEmbd * (c.blockLayers * blocks + c.tokenLayers * c.tokenContext)
}

/// Bytes of keys and values one generated token reads, per sequence, averaged over a generation
/// of G tokens after P (notes §4, float32, width D): vanilla reads every cached position in each
/// of its N layers; the block decoder reads one entry per block in N_B layers, once per L_B
/// tokens; the token decoder at most p + L_B − 1 entries (p + (L_B − 1)/2 on average) in N_T.
public func kvBytesReadPerToken(vanillaLayers n: Int, _ c: BlockConfig, prompt: Int, generated: Int) -> (vanilla: Double, block: Double) {
    let entry = 2.0 * 4 * Double(c.nEmbd), l = Double(c.blockLength)
    let meanPosition = Double(prompt) + Double(generated - 1) / 2
    let vanilla = Double(n) * meanPosition * entry
    let block = Double(c.blockLayers) * (meanPosition / l) / l * entry + Double(c.tokenLayers) * (Double(c.prefixLength) + (l - 1) / 2) * entry
    return (vanilla, block)
}

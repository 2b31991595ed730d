import Foundation
import TensorCore

// Incremental (KV-cached) decoding for the standard GPT: each new token attends to the keys
// and values of every earlier position kept from previous steps, so a step costs O(T·C)
// instead of re-running the whole O(T²·C) prefix. Inference only (no autograd).

/// Keys and values of every layer for `batch` sequences, up to `capacity` positions.
/// Layout per layer: (B, H, capacity, D), so one (batch, head) row is contiguous.
public final class KVCache {
    public let batch: Int, heads: Int, headDim: Int, capacity: Int
    /// Positions filled so far (the same for every sequence in the batch).
    public private(set) var length = 0
    let keys: [Buffer]
    let values: [Buffer]

    public init(layers: Int, batch: Int, heads: Int, headDim: Int, capacity: Int) {
        self.batch = batch; self.heads = heads; self.headDim = headDim; self.capacity = capacity
        keys = (0..<layers).map { _ in Buffer(count: batch * heads * capacity * headDim, zeroed: false) }
        values = (0..<layers).map { _ in Buffer(count: batch * heads * capacity * headDim, zeroed: false) }
    }

    /// Bytes held for keys and values (float32), the number the KV-cache comparisons count.
    public var bytes: Int { 2 * keys.count * batch * heads * capacity * headDim * MemoryLayout<Float>.size }

    public func reset() { length = 0 }
    /// Marks `n` more positions filled, after every layer has stored them.
    public func advance(by n: Int = 1) {
        precondition(length + n <= capacity, "KV cache of \(capacity) positions cannot take \(n) more after \(length)")
        length += n
    }
}

extension CausalSelfAttention {
    /// How many bytes of attention scores a prefill holds at once (sequences go through in
    /// groups that fit); a variable so that a test can force the grouping.
    nonisolated(unsafe) public static var prefillScoreBytes = 256 << 20

    /// One decoding step: `x` (B, C) is the layer-normed input at position `cache.length`;
    /// its key and value are appended to layer `layer` of the cache and the query attends to
    /// positions 0...length. Returns (B, C) after `c_proj`.
    public func step(_ x: Tensor, cache: KVCache, layer: Int) -> Tensor {
        let b = x.shape[0], c = x.shape[1], d = c / nHead, pos = cache.length
        let qkv = cAttn(x)                                               // (B, 3C)
        let kc = cache.keys[layer].pointer, vc = cache.values[layer].pointer, p = qkv.data
        let rowStride = cache.capacity * d
        for bi in 0..<b {
            for h in 0..<nHead {
                let row = (bi * nHead + h) * rowStride + pos * d
                (kc + row).update(from: p + bi * 3 * c + c + h * d, count: d)
                (vc + row).update(from: p + bi * 3 * c + 2 * c + h * d, count: d)
            }
        }
        let out = Tensor.zeros([b, c])
        let po = out.data, scale = 1 / Float(d).squareRoot()
        Parallel.forEachChunk(b * nHead) { rows in
            var scores = [Float](repeating: 0, count: d % 8 == 0 ? 0 : pos + 1)   // the scalar path's only
            for r in rows {
                let bi = r / nHead, h = r % nHead
                let q = p + bi * 3 * c + h * d, o = po + bi * c + h * d
                let k = kc + r * rowStride, v = vc + r * rowStride
                if d % 8 == 0 {
                    decodeAttention(q: q, k: k, v: v, out: o, rows: 1, length: pos + 1, dim: d, scale: scale, workers: 1)
                } else {
                    var mx = -Float.infinity
                    for j in 0...pos { scores[j] = dot(q, k + j * d, d) * scale; mx = Swift.max(mx, scores[j]) }
                    var sum: Float = 0
                    for j in 0...pos { scores[j] = Foundation.exp(scores[j] - mx); sum += scores[j] }
                    o.update(repeating: 0, count: d)
                    for j in 0...pos { axpy(scores[j] / sum, v + j * d, o, d) }
                }
            }
        }
        return cProj(out)
    }

    /// The prompt's pass from an empty cache: `x` (B, T, C) is the layer-normed input at
    /// positions 0..<T; their keys and values go to layer `layer` of the cache and the result,
    /// (B, T, C) after `c_proj`, is the full forward pass's (`callAsFunction`) in eval mode.
    public func prefill(_ x: Tensor, cache: KVCache, layer: Int) -> Tensor {
        let b = x.shape[0], t = x.shape[1], c = x.shape[2], d = c / nHead
        precondition(cache.length == 0 && t <= cache.capacity && b == cache.batch,
                     "prefill of \(t) positions needs an empty cache of batch \(b) (has \(cache.length) of \(cache.capacity), batch \(cache.batch))")
        let qkv = cAttn(x)                                               // (B, T, 3C)
        let kc = cache.keys[layer].pointer, vc = cache.values[layer].pointer, p = qkv.data
        let rowStride = cache.capacity * d
        for bi in 0..<b {
            for h in 0..<nHead {
                for ti in 0..<t {
                    let row = (bi * nHead + h) * rowStride + ti * d, src = p + (bi * t + ti) * 3 * c + h * d
                    (kc + row).update(from: src + c, count: d)
                    (vc + row).update(from: src + 2 * c, count: d)
                }
            }
        }
        // The attention of a long prompt materialises (H, T, T) scores per sequence: a batch of
        // them at once (128 × 4 × 1920² floats = 7.5 GB) would bound memory, not time, so the
        // sequences go through in groups whose scores fit in 256 MiB.
        let group = max(1, Self.prefillScoreBytes / max(1, nHead * t * t * MemoryLayout<Float>.size))
        guard b > group else { return cProj(causalSelfAttention(qkv, heads: nHead)) }
        let parts = stride(from: 0, to: b, by: group).map { causalSelfAttention(qkv.slice(axis: 0, $0..<min(b, $0 + group)), heads: nHead) }
        return cProj(concat(parts, axis: 0))
    }
}

extension GPT {
    /// Whether `step` can be used: standard attention in every block and the default
    /// (pointwise) MLP activation. Papers that swap in sequence-mixing layers decode by
    /// re-running the prefix instead.
    public var supportsKVCache: Bool {
        !hasCustomActivation && blocks.allSatisfy { $0.attn is CausalSelfAttention }
    }

    public func makeKVCache(batch: Int, capacity: Int? = nil) -> KVCache {
        KVCache(layers: config.nLayer, batch: batch, heads: config.nHead, headDim: config.nEmbd / config.nHead,
                capacity: capacity ?? config.blockSize)
    }

    /// Logits (B, V) for the next token after feeding `tokens` (one per sequence) at position
    /// `cache.length`; equal to the last row of the full forward pass over the whole prefix.
    public func step(_ tokens: [Int32], cache: KVCache) -> Tensor {
        precondition(supportsKVCache, "this GPT has layers without a KV-cache step")
        precondition(tokens.count == cache.batch, "one token per sequence: \(tokens.count) for batch \(cache.batch)")
        precondition(cache.length < Swift.min(cache.capacity, config.blockSize), "KV cache full at \(cache.length) positions")
        return noGrad {
            let b = tokens.count
            var x = wte(tokens, shape: [b]) + wpe([Int32(cache.length)], shape: [1])      // (B, C)
            for (i, block) in blocks.enumerated() {
                let attn = block.attn as! CausalSelfAttention
                x = x + attn.step(block.ln1(x), cache: cache, layer: i)
                x = x + block.mlp(block.ln2(x))
            }
            cache.advance()
            return matmul(lnF(x), wte.weight, transposeB: true)
        }
    }

    /// Logits (B, V) for the token after the prompts `tokens` (B, T) fed from an empty cache in
    /// one pass (the prefill), which leaves their keys and values in `cache`; the last row of
    /// the full forward pass, and what T calls of `step` would give.
    public func prefill(_ tokens: [Int32], batch: Int, cache: KVCache) -> Tensor {
        precondition(supportsKVCache, "this GPT has layers without a KV-cache step")
        let t = tokens.count / batch
        precondition(t >= 1 && t * batch == tokens.count && t <= config.blockSize, "prefill of \(tokens.count) tokens for batch \(batch)")
        return noGrad {
            var x = wte(tokens, shape: [batch, t]) + wpe((0..<Int32(t)).map { $0 }, shape: [t])   // (B, T, C)
            for (i, block) in blocks.enumerated() {
                let attn = block.attn as! CausalSelfAttention
                x = x + attn.prefill(block.ln1(x), cache: cache, layer: i)
                x = x + block.mlp(block.ln2(x))
            }
            cache.advance(by: t)
            let last = x.slice(axis: 1, (t - 1)..<t).reshape([batch, config.nEmbd])
            return matmul(lnF(last), wte.weight, transposeB: true)
        }
    }
}

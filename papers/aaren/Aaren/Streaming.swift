import Foundation
import Replicate

// Streaming inference, one token at a time, batch 1: Aaren keeps (m, u, w) per head, O(1) in the
// tokens seen; the Transformer layer keeps every key and value (its KV cache), O(N), and reads
// all of them for every new token.

/// A layer that takes one token (1, 1, C) at a time and says how many bytes of state it holds.
public protocol StreamingLayer: AnyObject {
    func step(_ x: Tensor) -> Tensor
    /// Bytes of the state the next step depends on (counted from the buffers in use).
    var stateBytes: Int { get }
    var tokensSeen: Int { get }
}

/// Aaren's recurrence: per head h, (m, u, w) ← (m, u, w) ⊕ (s_t, 1, v_t) and o_t = w/u.
public final class AarenStream: StreamingLayer {
    let layer: AarenLayer
    let heads: Int, d: Int
    /// The projected query per head, already divided by √D.
    let query: [Float]
    /// W_k, W_v and their biases, cut from the fused projection once.
    let kvWeight: Tensor, kvBias: Tensor
    var m: [Float], u: [Float], w: [Float]
    public private(set) var tokensSeen = 0

    public init(_ layer: AarenLayer) {
        self.layer = layer
        let c = layer.queryToken.count
        heads = layer.heads; d = c / layer.heads
        query = noGrad { layer.scaledQuery().toArray() }
        (kvWeight, kvBias) = noGrad { layer.keyValueProjection() }
        m = [Float](repeating: -.infinity, count: heads); u = [Float](repeating: 0, count: heads)
        w = [Float](repeating: 0, count: c)
    }

    public var stateBytes: Int { (m.count + u.count + w.count) * MemoryLayout<Float>.size }

    public func step(_ x: Tensor) -> Tensor {
        noGrad {
            let c = heads * d
            let kv = linear(x.reshape([1, c]), weight: kvWeight, bias: kvBias)            // (1, 2C)
            let p = kv.data
            let o = Tensor.zeros([1, 1, c])
            for h in 0..<heads {
                let kh = p + h * d, vh = p + c + h * d
                var s: Float = 0
                for j in 0..<d { s += query[h * d + j] * kh[j] }
                let mNew = Swift.max(m[h], s)
                let a = m[h] == -.infinity ? 0 : Foundation.exp(m[h] - mNew), b = Foundation.exp(s - mNew)
                u[h] = u[h] * a + b
                m[h] = mNew
                let inv = 1 / u[h]
                for j in 0..<d {
                    w[h * d + j] = w[h * d + j] * a + b * vh[j]
                    o.data[h * d + j] = w[h * d + j] * inv
                }
            }
            tokensSeen += 1
            return layer.parts.finish(x, mixed: o)
        }
    }
}

/// The Transformer layer with a KV cache of `capacity` tokens, laid out (H, capacity, D).
public final class TransformerStream: StreamingLayer {
    let layer: TransformerLayer
    let heads: Int, d: Int, capacity: Int
    let keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>
    public private(set) var tokensSeen = 0

    public init(_ layer: TransformerLayer, capacity: Int) {
        self.layer = layer
        let c = layer.qkv.weight.shape[1]
        heads = layer.heads; d = c / layer.heads; self.capacity = capacity
        keys = .allocate(capacity: capacity * c); values = .allocate(capacity: capacity * c)
    }

    deinit { keys.deallocate(); values.deallocate() }

    /// The keys and values of the tokens seen so far (the part of the cache the next step reads).
    public var stateBytes: Int { 2 * tokensSeen * heads * d * MemoryLayout<Float>.size }

    /// Fill the cache as if `n` tokens had been seen (random keys and values): the time of the next
    /// step depends on n, not on the values, so long contexts are timed without streaming them.
    public func prefill(_ n: Int, rng: inout RNG) {
        precondition(n <= capacity, "prefill of \(n) tokens exceeds the cache's \(capacity)")
        for h in 0..<heads {
            for i in 0..<(n * d) { keys[h * capacity * d + i] = rng.nextNormal(); values[h * capacity * d + i] = rng.nextNormal() }
        }
        tokensSeen = n
    }

    public func step(_ x: Tensor) -> Tensor {
        precondition(tokensSeen < capacity, "the KV cache holds \(capacity) tokens")
        return noGrad {
            let c = heads * d, pos = tokensSeen
            let qkv = layer.qkv(x.reshape([1, c]))                                       // (1, 3C)
            let p = qkv.data
            for h in 0..<heads {
                (keys + (h * capacity + pos) * d).update(from: p + c + h * d, count: d)
                (values + (h * capacity + pos) * d).update(from: p + 2 * c + h * d, count: d)
            }
            let o = Tensor.zeros([1, 1, c])
            let po = o.data, scale = 1 / Float(d).squareRoot()
            Parallel.forEachChunk(heads) { hs in
                for h in hs {
                    decodeAttention(q: p + h * d, k: keys + h * capacity * d, v: values + h * capacity * d, out: po + h * d,
                                    rows: 1, length: pos + 1, dim: d, scale: scale, workers: 1)
                }
            }
            tokensSeen += 1
            return layer.parts.finish(x, mixed: o)
        }
    }
}

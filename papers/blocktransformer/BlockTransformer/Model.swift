import Foundation
import NN
import Replicate
import TensorCore

// Block Transformer (Ho et al. 2024): an embedder that concatenates the L_B token embeddings of a
// block, a causal block decoder over those block embeddings, and a token decoder that decodes
// the next block from 2 prefix tokens expanded out of the block decoder's output, attending
// within that block only. Dimension legend: B batch, T tokens, N = T / L_B blocks, L = L_B,
// p prefix length, D width, V vocabulary.

/// The Block Transformer's hyper-parameters (notes §1, §6).
public struct BlockConfig: Codable, Equatable, Sendable {
    /// L_B: tokens per block.
    public var blockLength = 4
    /// p: prefix tokens the context embedding expands into (the paper's main setting: 2).
    public var prefixLength = 2
    /// D: the width of both decoders; the embedder's is D / L_B.
    public var nEmbd = 128
    public var nHead = 4
    public var blockLayers = 2
    public var tokenLayers = 2
    /// The longest sequence (prompt + generation) the block decoder's positions cover.
    public var maxContext = 2048
    public init() {}

    public func validate(prefix: String) throws {
        try requireConfig(blockLength, "\(prefix).block_length", in: 1...64)
        try requireConfig(prefixLength, "\(prefix).prefix_length", in: 1...64)
        try requireConfig(nHead, "\(prefix).n_head", in: 1...256)
        try requireConfig(nEmbd >= 1 && nEmbd <= 16_384 && nEmbd % nHead == 0 && nEmbd % blockLength == 0,
                          "\(prefix).n_embd", nEmbd, "must be a multiple of n_head (\(nHead)) and of block_length (\(blockLength)) in 1…16384")
        try requireConfig(blockLayers, "\(prefix).block_layers", in: 1...256)
        try requireConfig(tokenLayers, "\(prefix).token_layers", in: 1...256)
        try requireConfig(maxContext >= blockLength && maxContext <= 1 << 20 && maxContext % blockLength == 0,
                          "\(prefix).max_context", maxContext, "must be a multiple of block_length (\(blockLength)) in \(blockLength)…1048576")
    }

    /// The token decoder's input length: p prefix tokens and the block's first L_B − 1 tokens.
    public var tokenContext: Int { prefixLength + blockLength - 1 }
}

/// A causal transformer over input embeddings (no token embedding, no head): learned positions,
/// nanoGPT's pre-LN blocks, a final layer norm. The block decoder and the token decoder are one.
public final class Decoder: Module {
    public let wpe: Embedding
    public let blocks: [Block]
    public let lnF: LayerNorm
    let width: Int, heads: Int

    init(width: Int, heads: Int, layers: Int, positions: Int, rng: inout RNG) {
        let gpt = GPTConfig(vocabSize: 0, blockSize: positions, nLayer: layers, nHead: heads, nEmbd: width)
        let drop = DropoutState(seed: 0)   // dropout 0: never draws
        self.width = width; self.heads = heads
        wpe = Embedding(positions, width, rng: &rng)
        blocks = (0..<layers).map { _ in
            let ln1 = LayerNorm(width, bias: false), attn = CausalSelfAttention(gpt, drop: drop, rng: &rng)
            let ln2 = LayerNorm(width, bias: false), mlp = MLP(gpt, drop: drop, rng: &rng)
            return Block(ln1: ln1, attn: attn, ln2: ln2, mlp: mlp)
        }
        lnF = LayerNorm(width, bias: false)
    }

    /// (B, T, D) → (B, T, D): positions 0..<T added, blocks, final layer norm.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let t = x.shape[1]
        var h = x + wpe((0..<Int32(t)).map { $0 }, shape: [t])
        for block in blocks { h = block(h) }
        return lnF(h)
    }

    func makeCache(batch: Int, capacity: Int) -> KVCache {
        KVCache(layers: blocks.count, batch: batch, heads: heads, headDim: width / heads, capacity: capacity)
    }

    /// The first T positions (B, T, D) from an empty cache, their keys and values kept: equal to
    /// `callAsFunction`.
    func prefill(_ x: Tensor, cache: KVCache) -> Tensor {
        let t = x.shape[1]
        var h = x + wpe((0..<Int32(t)).map { $0 }, shape: [t])
        for (i, block) in blocks.enumerated() {
            h = h + (block.attn as! CausalSelfAttention).prefill(block.ln1(h), cache: cache, layer: i)
            h = h + block.mlp(block.ln2(h))
        }
        cache.advance(by: t)
        return lnF(h)
    }

    /// One position (B, D) at `cache.length`, attending to everything cached: the matching row
    /// of `callAsFunction` over the whole sequence.
    func step(_ x: Tensor, cache: KVCache) -> Tensor {
        precondition(cache.length < cache.capacity, "KV cache full at \(cache.length) positions")
        var h = x + wpe([Int32(cache.length)], shape: [1])
        for (i, block) in blocks.enumerated() {
            h = h + (block.attn as! CausalSelfAttention).step(block.ln1(h), cache: cache, layer: i)
            h = h + block.mlp(block.ln2(h))
        }
        cache.advance()
        return lnF(h)
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = named("wpe", wpe)
        for (i, b) in blocks.enumerated() { p += named("h.\(i)", b) }
        return p + named("ln_f", lnF)
    }
}

/// The Block Transformer language model. state_dict keys: `embedder.weight` (V + 1 rows, the
/// last the pad token), `block_decoder.*`, `expansion.{weight,bias}`, `token_decoder.wte.weight`,
/// `token_decoder.*`, `lm_head.weight` (untied, as the paper's Pythia base).
public final class BlockTransformer: Trainable {
    public let config: BlockConfig
    public let vocabSize: Int
    /// The embedder's pad token (never a target): id V.
    public var padID: Int32 { Int32(vocabSize) }
    public let embedder: Embedding
    public let blockDecoder: Decoder
    public let expansion: Linear
    public let tokenEmbedding: Embedding
    public let tokenDecoder: Decoder
    public let lmHead: Linear
    public var training = true
    /// Draws the random left padding of training windows (0…L_B − 1 pads), apart from the data
    /// stream so vanilla and block models see the same windows.
    public var padding: RNG

    public init(_ c: BlockConfig, vocabSize: Int, seed: UInt64) {
        config = c; self.vocabSize = vocabSize
        var rng = RNG(seed: seed)
        padding = RNG(seed: seed &+ 0xB10C)
        let d = c.nEmbd
        embedder = Embedding(vocabSize + 1, d / c.blockLength, rng: &rng)
        blockDecoder = Decoder(width: d, heads: c.nHead, layers: c.blockLayers, positions: c.maxContext / c.blockLength, rng: &rng)
        expansion = Linear(d, c.prefixLength * d, bias: true, rng: &rng)
        tokenEmbedding = Embedding(vocabSize, d, rng: &rng)
        tokenDecoder = Decoder(width: d, heads: c.nHead, layers: c.tokenLayers, positions: c.tokenContext, rng: &rng)
        lmHead = Linear(d, vocabSize, bias: false, rng: &rng)
    }

    public var randomStreams: [String: RNG] {
        get { ["padding": padding] }
        set { if let r = newValue["padding"] { padding = r } }
    }

    public func namedParameters() -> [(String, Tensor)] {
        named("embedder", embedder) + named("block_decoder", blockDecoder) + named("expansion", expansion)
            + [("token_decoder.wte.weight", tokenEmbedding.weight)] + named("token_decoder", tokenDecoder) + named("lm_head", lmHead)
    }

    /// Parameters outside the lookup tables, the classifier and the position embeddings (the
    /// paper's "non-embedding" count): both decoders' blocks and final norms, and the expansion.
    public var nonEmbeddingParameterCount: Int {
        parameterCount - embedder.weight.count - tokenEmbedding.weight.count - lmHead.weight.count
            - blockDecoder.wpe.weight.count - tokenDecoder.wpe.weight.count
    }

    /// Block embeddings (B, N, D) of ids (B, N·L): each block's L lookups of width D / L, concatenated.
    func embedBlocks(_ ids: [Int32], batch: Int, blocks: Int) -> Tensor {
        embedder(ids, shape: [batch, blocks * config.blockLength]).reshape([batch, blocks, config.nEmbd])
    }

    /// The block decoder's context embeddings (B, N, D): row i has seen blocks 0…i only.
    public func contexts(_ ids: [Int32], batch: Int, time: Int) -> Tensor {
        precondition(time % config.blockLength == 0, "\(time) tokens are not whole blocks of \(config.blockLength)")
        return blockDecoder(embedBlocks(ids, batch: batch, blocks: time / config.blockLength))
    }

    /// The p prefix embeddings (R, p, D) of R context embeddings (R, D).
    func prefixes(_ context: Tensor) -> Tensor {
        expansion(context).reshape([context.count / config.nEmbd, config.prefixLength, config.nEmbd])
    }

    /// Logits (B, N − 1, L, V) for every token of blocks 1…N − 1 of ids (B, T = N·L): block i + 1
    /// is decoded from context i, its tokens teacher-forced. Block 0 is never predicted.
    public func blockLogits(_ ids: [Int32], batch: Int, time: Int) -> Tensor {
        let l = config.blockLength, n = time / l, p = config.prefixLength, d = config.nEmbd
        precondition(n >= 2, "\(time) tokens: the block model needs at least 2 blocks of \(l)")
        let ctx = contexts(ids, batch: batch, time: time).slice(axis: 1, 0..<(n - 1))    // (B, N−1, D)
        let r = batch * (n - 1)
        var parts = [prefixes(ctx)]                                                      // (R, p, D)
        if l > 1 {
            var inputs: [Int32] = []
            inputs.reserveCapacity(r * (l - 1))
            for b in 0..<batch {
                for i in 1..<n {
                    let start = b * time + i * l
                    inputs += ids[start..<(start + l - 1)]
                }
            }
            precondition(!inputs.contains(padID), "a pad token after the first block")
            parts.append(tokenEmbedding(inputs, shape: [r, l - 1]))                       // (R, L−1, D)
        }
        let h = tokenDecoder(concat(parts, axis: 1)).slice(axis: 1, (p - 1)..<(p - 1 + l))  // (R, L, D)
        return lmHead(h).reshape([batch, n - 1, l, vocabSize])
    }

    /// The targets of `blockLogits`: ids of blocks 1…N − 1, in its row order.
    public func blockTargets(_ ids: [Int32], batch: Int, time: Int) -> [Int32] {
        let l = config.blockLength
        return (0..<batch).flatMap { b in ids[(b * time + l)..<((b + 1) * time)] }
    }

    /// Mean cross-entropy over every predicted token of ids (B, T).
    public func loss(_ ids: [Int32], batch: Int, time: Int) -> Tensor {
        let logits = blockLogits(ids, batch: batch, time: time)
        return crossEntropy(logits.reshape([logits.count / vocabSize, vocabSize]), targets: blockTargets(ids, batch: batch, time: time))
    }

    /// Training windows with their random left padding: each window of T tokens gets r ∈ 0…L − 1
    /// pad tokens in front and loses its last r tokens, so the pads sit in block 0 (never a
    /// target) and the blocks start at a random offset of the text, as the paper's packing does.
    public func padded(_ ids: [Int32], batch: Int, time: Int) -> [Int32] {
        let l = config.blockLength
        guard l > 1 else { return ids }
        var out: [Int32] = []
        out.reserveCapacity(ids.count)
        for b in 0..<batch {
            let r = padding.nextInt(below: l)
            out += [Int32](repeating: padID, count: r)
            out += ids[(b * time)..<((b + 1) * time - r)]
        }
        return out
    }

    /// Logits laid out as a vanilla model's (B, T, V): row t predicts token t + 1. Rows the
    /// block model cannot predict from ids alone (t < L − 1, and t = T − 1) are zero.
    public func alignedLogits(_ ids: [Int32], batch: Int, time: Int) -> Tensor {
        let l = config.blockLength, v = vocabSize
        let logits = blockLogits(ids, batch: batch, time: time)    // target t = l … T−1 at row t − l of each sample
        let out = Tensor.zeros([batch, time, v])
        let per = time - l
        for b in 0..<batch {
            (out.data + (b * time + l - 1) * v).update(from: logits.data + b * per * v, count: per * v)
        }
        return out
    }
}

/// −log p(target) of every token of `ids` (B, T) that `logits` (R, V) scores, in Double.
func negativeLogLikelihoods(_ logits: Tensor, targets: [Int32]) -> [Double] {
    let v = logits.shape.last!, rows = logits.count / v
    precondition(rows == targets.count, "\(targets.count) targets for \(rows) rows")
    return (0..<rows).map { r in
        let x = logits.data + r * v
        var mx = -Double.infinity
        for j in 0..<v { mx = max(mx, Double(x[j])) }
        var sum = 0.0
        for j in 0..<v { sum += Foundation.exp(Double(x[j]) - mx) }
        return mx + Foundation.log(sum) - Double(x[Int(targets[r])])
    }
}

/// Per-token losses (B, T) of windows `ids`, NaN where a model makes no prediction: the
/// block model predicts tokens L…T − 1 from the window, the vanilla model tokens 1…T − 1
/// (from the window without its last token). Scoring both from one position on compares them
/// on the same targets.
public func tokenLosses(_ model: BlockTransformer, _ ids: [Int32], batch: Int, time: Int) -> [Double] {
    let l = model.config.blockLength
    let nll = noGrad { negativeLogLikelihoods(model.blockLogits(ids, batch: batch, time: time).reshape([-1, model.vocabSize]),
                                              targets: model.blockTargets(ids, batch: batch, time: time)) }
    var out = [Double](repeating: .nan, count: batch * time)
    for b in 0..<batch { for t in l..<time { out[b * time + t] = nll[b * (time - l) + t - l] } }
    return out
}

public func tokenLosses(_ model: GPT, _ ids: [Int32], batch: Int, time: Int) -> [Double] {
    var inputs: [Int32] = [], targets: [Int32] = []
    for b in 0..<batch {
        inputs += ids[(b * time)..<((b + 1) * time - 1)]
        targets += ids[(b * time + 1)..<((b + 1) * time)]
    }
    let nll = noGrad { negativeLogLikelihoods(model(inputs, batch: batch, time: time - 1), targets: targets) }
    var out = [Double](repeating: .nan, count: batch * time)
    for b in 0..<batch { for t in 1..<time { out[b * time + t] = nll[b * (time - 1) + t - 1] } }
    return out
}

/// A vanilla GPT's parameters outside its token and position embeddings (the LM head is tied).
public func nonEmbeddingParameterCount(_ gpt: GPT) -> Int {
    gpt.parameterCount - gpt.wte.weight.count - gpt.wpe.weight.count
}

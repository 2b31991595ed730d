import Foundation
import Datasets
import HDF5
import NN
import TensorCore

// What the language-model papers (nanoGPT, Hilsenbek, Block Transformer) share on top of the
// training loop: nanoGPT's model hyper-parameters, its loss estimate, and one set of per-seed
// metric names.

/// nanoGPT's model hyper-parameters (its `GPTConfig` without the vocabulary, which the data
/// decides), embedded as `model` in a language-model paper's config. Defaults: the README's CPU
/// line `--n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --dropout=0.0`.
public struct NanoGPTModel: Codable, Equatable, Sendable {
    public var nLayer = 4
    public var nHead = 4
    public var nEmbd = 128
    public var blockSize = 64
    public var dropout: Float = 0
    public var bias = false
    public init() {}

    public func gpt(vocabSize: Int) -> GPTConfig {
        GPTConfig(vocabSize: vocabSize, blockSize: blockSize, nLayer: nLayer, nHead: nHead, nEmbd: nEmbd, dropout: dropout, bias: bias)
    }

    public func validate() throws {
        try requireConfig(nLayer, "n_layer", in: 1...1024)
        try requireConfig(nHead, "n_head", in: 1...1024)
        try requireConfig(nEmbd >= 1 && nEmbd <= 65_536 && nEmbd % nHead == 0, "n_embd", nEmbd, "must be a multiple of n_head (\(nHead)) in 1…65536")
        try requireConfig(blockSize, "block_size", in: 2...1_048_576)
        try requireConfig((0..<1).contains(dropout), "dropout", dropout, "must be in [0, 1)")
    }
}

/// A model trained on next-token prediction: mean cross-entropy of (B, T) ids against targets.
public protocol LanguageModel: Trainable {
    func loss(_ idx: [Int32], targets: [Int32], batch: Int, time: Int) -> Tensor
}

extension GPT: LanguageModel {}

/// The shared loop on random windows of `data`'s train split, evaluated as nanoGPT does
/// (`estimateLoss`: train_loss and val_loss).
public func trainLanguageModel(
    _ model: some LanguageModel, data: CharDataset, block: Int, config c: TrainConfig, seed: UInt64,
    checkpoint: CheckpointTarget, label: String = ""
) throws -> TrainHistory {
    let shortest = min(data.train.count, data.val.count)
    try requireConfig(block < shortest, "block_size", block, "must be below the shorter split's length (\(shortest) tokens)")
    return try train(model, config: c, seed: seed, checkpoint: checkpoint, label: label, loss: { rng in
        let (x, y) = data.batch(.train, batch: c.batchSize, block: block, rng: &rng)
        return model.loss(x, targets: y, batch: c.batchSize, time: block)
    }, evaluate: { rng in
        estimateLoss(model, data: data, batch: c.batchSize, block: block, iters: c.evalIters, rng: &rng)
    })
}

/// nanoGPT's `estimate_loss`: the mean loss over `iters` random batches of each split, train
/// first. The caller switches to eval mode and turns gradients off (`train` does).
public func estimateLoss(_ model: some LanguageModel, data: CharDataset, batch: Int, block: Int, iters: Int,
                         rng: inout RNG) -> [(name: String, value: Double)] {
    [(CharDataset.Split.train, "train_loss"), (.val, "val_loss")].map { split, name in
        var sum = 0.0
        for _ in 0..<iters {
            let (x, y) = data.batch(split, batch: batch, block: block, rng: &rng)
            sum += Double(model.loss(x, targets: y, batch: batch, time: block).item())
        }
        return (name, sum / Double(iters))
    }
}

extension Run {
    /// What every language-model training records for one seed, under one set of names
    /// (`<name>.<part>` when a paper trains several models per seed): val_loss_final,
    /// train_loss_final (the evaluation at max_iters, before that update, as nanoGPT's), val_loss_best,
    /// train_time_minutes, step_ms (median update after 10 warm-up ones), tokens_per_s, and the
    /// curves train_loss, eval_val_loss and eval_train_loss.
    public func recordLanguageModelTraining(_ h: TrainHistory, seed: UInt64, part: String? = nil, tokensPerStep: Int,
                                            seconds: Double, label: String = "") {
        func name(_ k: String) -> String { part.map { "\(k).\($0)" } ?? k }
        let val = h.eval("val_loss"), trainLoss = h.eval("train_loss")
        record(name("val_loss_final"), val.last!, seed: seed)
        record(name("train_loss_final"), trainLoss.last!, seed: seed)
        record(name("val_loss_best"), val.min()!, seed: seed)
        record(name("train_time_minutes"), seconds / 60, seed: seed)
        let steady = Array(h.stepMs.dropFirst(min(10, h.stepMs.count - 1)))   // skip warm-up allocations
        let msPerStep = median(steady)
        record(name("step_ms"), msPerStep, seed: seed)
        record(name("tokens_per_s"), Double(tokensPerStep) / msPerStep * 1000, seed: seed)
        let evalX = h.evalIters.map(Double.init)
        recordSeries(name("train_loss"), x: h.iters.map(Double.init), y: h.trainLoss, seed: seed)
        recordSeries(name("eval_val_loss"), x: evalX, y: val, seed: seed)
        recordSeries(name("eval_train_loss"), x: evalX, y: trainLoss, seed: seed)
        log("\(label)final: train loss \(String(format: "%.4f", trainLoss.last!)), val loss \(String(format: "%.4f", val.last!)), "
            + "best \(String(format: "%.4f", val.min()!))")
    }
}

extension Run {
    /// `activations.h5` of a language model on one window (batch 1): the input and target ids
    /// and text, the loss, named tensors (B, T, …), the config, provenance and `attributes`.
    public func writeLanguageModelActivations(seed: UInt64, part: String? = nil, window: [Int32], targets: [Int32],
                                              text: String, loss: Double, tensors: [(String, Tensor)],
                                              attributes: [(String, String)] = []) throws {
        try H5File.writeAtomically(to: try activationsPath(seed: seed, part: part)) { f in
            try f.setAttribute("kind", .string("activations"))
            for (k, v) in attributes { try f.setAttribute(k, .string(v)) }
            try f.setAttribute("config", .string(configJSON))
            try f.setAttribute("input_text", .string(text))
            try provenance.attach(to: f)
            try f.write("input_ids", window, shape: [1, window.count])
            try f.write("target_ids", targets, shape: [1, targets.count])
            try f.write("loss", [loss], shape: [])
            for (name, x) in tensors { try f.write(name, x.toArray(), shape: x.shape) }
        }
    }
}

import Foundation
import Datasets
import NN
import TensorCore

/// nanoGPT's training hyper-parameters (names as in its train.py).
public struct LMTrainConfig: Codable, Equatable, Sendable {
    public var batchSize = 12
    public var blockSize = 64
    public var maxIters = 2000
    public var evalInterval = 250
    public var evalIters = 20
    public var learningRate = 1e-3
    public var minLR = 1e-4
    public var warmupIters = 100
    public var lrDecayIters = 2000
    public var weightDecay = 0.1
    public var beta1 = 0.9
    public var beta2 = 0.99
    public var gradClip: Float = 1.0
    /// Save a checkpoint every this many iterations (a killed run resumes from the last one).
    public var checkpointInterval = 250
    public init() {}
}

/// A paper config built on nanoGPT's shakespeare_char hyperparameters under nanoGPT's names.
/// Each paper keeps its own `Config` (the fields it shows and overrides); conforming derives the
/// training loop's config, the model config and the claims' scale from those fields.
public protocol NanoGPTHyperparameters {
    var nLayer: Int { get }
    var nHead: Int { get }
    var nEmbd: Int { get }
    var dropout: Float { get }
    var bias: Bool { get }
    var batchSize: Int { get }
    var blockSize: Int { get }
    var maxIters: Int { get }
    var evalInterval: Int { get }
    var evalIters: Int { get }
    var learningRate: Double { get }
    var minLr: Double { get }
    var warmupIters: Int { get }
    var lrDecayIters: Int { get }
    var weightDecay: Double { get }
    var beta1: Double { get }
    var beta2: Double { get }
    var gradClip: Float { get }
    var checkpointInterval: Int { get }
}

extension NanoGPTHyperparameters {
    public var train: LMTrainConfig {
        var t = LMTrainConfig()
        t.batchSize = batchSize; t.blockSize = blockSize; t.maxIters = maxIters; t.evalInterval = evalInterval
        t.evalIters = evalIters; t.learningRate = learningRate; t.minLR = minLr; t.warmupIters = warmupIters
        t.lrDecayIters = lrDecayIters; t.weightDecay = weightDecay; t.beta1 = beta1; t.beta2 = beta2
        t.gradClip = gradClip; t.checkpointInterval = checkpointInterval
        return t
    }

    public func model(vocabSize: Int) -> GPTConfig {
        GPTConfig(vocabSize: vocabSize, blockSize: blockSize, nLayer: nLayer, nHead: nHead, nEmbd: nEmbd, dropout: dropout, bias: bias)
    }

    /// nanoGPT's README CPU run (L4 H4 C128, block 64, batch 12, 2000 iterations), the scale
    /// the language-model claims are judged at.
    public var isBabyCPU: Bool {
        nLayer == 4 && nHead == 4 && nEmbd == 128 && blockSize == 64 && batchSize == 12 && maxIters == 2000
    }

    /// The claims' scale: the README's CPU run, or something smaller.
    public var scale: String { isBabyCPU ? "baby-cpu" : "ci" }
}

/// Train a GPT-style model with nanoGPT's loop: iterations 0...maxIters (maxIters+1 updates),
/// an estimate of train and val loss every `evalInterval` iterations (before that iteration's
/// update), warmup + cosine LR, gradient clipping, AdamW.
///
/// Resumes from `checkpointPath` when it exists (bit-identical to an uninterrupted run with
/// the same seed and thread count); a finished checkpoint returns its history at once.
public func trainLanguageModel(
    _ model: GPT, data: CharDataset, config c: LMTrainConfig, seed: UInt64, checkpointPath: String,
    modelName: String, configJSON: String, provenance: Provenance, label: String = ""
) throws -> TrainHistory {
    let optimizer = AdamW(model, lr: c.learningRate, weightDecay: c.weightDecay, beta1: c.beta1, beta2: c.beta2)
    let schedule = CosineSchedule(maxLR: c.learningRate, minLR: c.minLR, warmupIters: c.warmupIters, decayIters: c.lrDecayIters)
    var state = TrainState(step: 0, dataRNG: RNG(seed: seed), dropoutRNG: model.drop.rng, history: TrainHistory(), finished: false)
    if FileManager.default.fileExists(atPath: checkpointPath) {
        state = try Checkpoint.load(checkpointPath, model: model, optimizer: optimizer, modelName: modelName, configJSON: configJSON)
        model.drop.rng = state.dropoutRNG
        if state.finished { return state.history }
        log("\(label)resuming from \(checkpointPath) at iteration \(state.step)")
    }
    func save(finished: Bool) throws {
        state.dropoutRNG = model.drop.rng
        state.finished = finished
        try Checkpoint.save(checkpointPath, model: model, optimizer: optimizer, state: state, modelName: modelName,
                            configJSON: configJSON, provenance: provenance)
    }
    let params = model.parameters()
    let progress = Progress(total: c.maxIters + 1, label: label, start: state.step)
    while state.step <= c.maxIters {
        let it = state.step
        if it > 0 && it % c.checkpointInterval == 0 && state.history.iters.last == it - 1 { try save(finished: false) }
        optimizer.lr = schedule.lr(at: it)
        if it % c.evalInterval == 0 {
            let (train, val) = estimateLoss(model, data: data, config: c, rng: &state.dataRNG)
            state.history.evalIters.append(it); state.history.evalTrain.append(train); state.history.evalVal.append(val)
            log("\(label)iter \(it): train loss \(fmt(train)), val loss \(fmt(val))")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let (x, y) = data.batch(.train, batch: c.batchSize, block: c.blockSize, rng: &state.dataRNG)
        let loss = model.loss(x, targets: y, batch: c.batchSize, time: c.blockSize)
        let lossValue = loss.item()
        guard lossValue.isFinite else {
            throw ReplicateError("\(label)iteration \(it): training loss is \(lossValue); stopped. The last good checkpoint "
                + "(\(checkpointPath)) is kept; lower learning_rate or check the data.")
        }
        model.zeroGrad()
        loss.backward()
        let norm = clipGradNorm(params, maxNorm: c.gradClip)
        optimizer.update()
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        state.history.iters.append(it); state.history.trainLoss.append(Double(lossValue))
        state.history.lr.append(optimizer.lr); state.history.gradNorm.append(Double(norm)); state.history.stepMs.append(ms)
        state.step += 1
        progress.update(state.step, loss: Double(lossValue))
    }
    try save(finished: true)
    return state.history
}

/// nanoGPT's `estimate_loss`: mean loss over `evalIters` random batches of each split.
public func estimateLoss(_ model: GPT, data: CharDataset, config c: LMTrainConfig, rng: inout RNG) -> (train: Double, val: Double) {
    let wasTraining = model.training
    model.training = false
    defer { model.training = wasTraining }
    return noGrad {
        var out: [Double] = []
        for split in [CharDataset.Split.train, .val] {
            var sum = 0.0
            for _ in 0..<c.evalIters {
                let (x, y) = data.batch(split, batch: c.batchSize, block: c.blockSize, rng: &rng)
                sum += Double(model.loss(x, targets: y, batch: c.batchSize, time: c.blockSize).item())
            }
            out.append(sum / Double(c.evalIters))
        }
        return (out[0], out[1])
    }
}

/// A progress line with iteration, loss and ETA, at most every few seconds.
public final class Progress {
    let total: Int, label: String
    let startTime = Date()
    let startStep: Int
    var lastPrint = Date.distantPast

    public init(total: Int, label: String, start: Int = 0) { self.total = total; self.label = label; startStep = start }

    public func update(_ done: Int, loss: Double) {
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= 5 || done == total else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(startTime)
        let perStep = elapsed / Double(max(done - startStep, 1))
        let eta = perStep * Double(total - done)
        log(String(format: "%@iter %d/%d  loss %.4f  %.1f ms/iter  ETA %@", label, done, total, loss, perStep * 1000, duration(eta)))
    }
}

public func duration(_ s: Double) -> String {
    s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.1fs", s)
}

func fmt(_ x: Double) -> String { String(format: "%.4f", x) }

/// Progress and status go to stderr, so stdout stays clean for results.
public func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

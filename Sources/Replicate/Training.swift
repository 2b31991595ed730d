import Foundation
import HDF5
import NN
import TensorCore

// One training loop for every paper: any model, any batch source, any loss, any named evaluations.

/// Training hyper-parameters under nanoGPT's names (`max_iters`, `learning_rate`, …), embedded as
/// `train` in every paper's config that trains. Defaults: nanoGPT's config/train_shakespeare_char.py
/// with its README's CPU overrides.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var batchSize = 12
    public var maxIters = 2000
    public var evalInterval = 250
    public var evalIters = 20
    public var learningRate = 1e-3
    public var minLr = 1e-4
    public var warmupIters = 100
    public var lrDecayIters = 2000
    public var weightDecay = 0.1
    public var beta1 = 0.9
    public var beta2 = 0.99
    public var gradClip: Float = 1
    /// Save a checkpoint every this many iterations (a killed run resumes from the last one).
    public var checkpointInterval = 250
    public init() {}

    /// A one-line error naming the first key out of its range (a zero batch would crash a kernel).
    public func validate() throws {
        try requireConfig(batchSize >= 1, "batch_size", batchSize, "must be at least 1")
        try requireConfig(batchSize <= 65_536, "batch_size", batchSize, "must be at most 65536")
        try requireConfig(maxIters >= 0, "max_iters", maxIters, "must be 0 or more")
        try requireConfig(maxIters <= 1_000_000_000, "max_iters", maxIters, "must be at most 1000000000")
        try requireConfig(evalInterval >= 1, "eval_interval", evalInterval, "must be at least 1")
        try requireConfig(evalIters >= 1, "eval_iters", evalIters, "must be at least 1")
        try requireConfig(evalIters <= 1_000_000, "eval_iters", evalIters, "must be at most 1000000")
        try requireConfig(checkpointInterval >= 1, "checkpoint_interval", checkpointInterval, "must be at least 1")
        try requireConfig(warmupIters >= 0, "warmup_iters", warmupIters, "must be 0 or more")
        try requireConfig(warmupIters <= 1_000_000_000, "warmup_iters", warmupIters, "must be at most 1000000000")
        try requireConfig(lrDecayIters >= 0, "lr_decay_iters", lrDecayIters, "must be 0 or more")
        try requireConfig(lrDecayIters <= 1_000_000_000, "lr_decay_iters", lrDecayIters, "must be at most 1000000000")
        try requireConfig(learningRate > 0, "learning_rate", learningRate, "must be positive")
        try requireConfig(minLr >= 0, "min_lr", minLr, "must be 0 or more")
        try requireConfig(weightDecay >= 0, "weight_decay", weightDecay, "must be 0 or more")
        try requireConfig((0..<1).contains(beta1), "beta1", beta1, "must be in [0, 1)")
        try requireConfig((0..<1).contains(beta2), "beta2", beta2, "must be in [0, 1)")
        try requireConfig(gradClip > 0, "grad_clip", gradClip, "must be positive")
    }
}

extension TrainConfig {
    /// A small supervised task's loop: warmup 5%, cosine decay to a tenth, weight decay 0.01,
    /// β₂ 0.98, six evaluations and three checkpoints over the run.
    public static func task(batch: Int, iters: Int, lr: Double) -> TrainConfig {
        var t = TrainConfig()
        t.batchSize = batch; t.maxIters = iters; t.lrDecayIters = iters; t.warmupIters = max(1, iters / 20)
        t.learningRate = lr; t.minLr = lr / 10; t.weightDecay = 0.01; t.beta2 = 0.98
        t.evalInterval = max(1, iters / 6); t.evalIters = 1; t.checkpointInterval = max(1, iters / 3)
        return t
    }
}

/// Throws "config key \"k\" = v: must be …" unless `ok`.
public func requireConfig(_ ok: Bool, _ key: String, _ value: Any, _ rule: String) throws {
    guard ok else { throw ReplicateError("config key \"\(key)\" = \(value): \(rule)") }
}

/// A number within `range` (finite: NaN is in no range).
public func requireConfig<T: Comparable>(_ value: T, _ key: String, in range: ClosedRange<T>) throws {
    try requireConfig(range.contains(value), key, value, "must be in \(range.lowerBound)…\(range.upperBound)")
}

/// A non-empty list whose every element is within `range`.
public func requireConfig<T: Comparable>(_ values: [T], _ key: String, each range: ClosedRange<T>) throws {
    try requireConfig(!values.isEmpty && values.allSatisfy { range.contains($0) }, key, values,
                      "must be a non-empty list of values in \(range.lowerBound)…\(range.upperBound)")
}

/// A model the loop can train: its parameters (`Module`), a train/eval switch, and the random
/// streams it draws from while training (dropout), which checkpoints save and restore by name.
public protocol Trainable: Module {
    var training: Bool { get set }
    var randomStreams: [String: RNG] { get set }
}

extension GPT: Trainable {
    public var randomStreams: [String: RNG] {
        get { ["dropout": drop.rng] }
        set { if let r = newValue["dropout"] { drop.rng = r } }
    }
}

/// Curves of one training run as named series, so any metric is checkpointed without a format
/// change: one value per update in `steps` (`train_loss`, `lr`, `grad_norm`, `step_ms`: a timing,
/// never gated, different after a resume) and one per evaluation in `evals` (e.g. `val_loss`).
public struct TrainHistory: Equatable, Sendable {
    /// The iteration of every update, and of every evaluation.
    public var iters: [Int] = []
    public var evalIters: [Int] = []
    public var steps: [String: [Double]] = [:]
    public var evals: [String: [Double]] = [:]
    public init() {}

    /// A per-update series; empty when absent.
    public func step(_ name: String) -> [Double] { steps[name] ?? [] }
    /// A per-evaluation series; empty when absent.
    public func eval(_ name: String) -> [Double] { evals[name] ?? [] }

    public var trainLoss: [Double] { step("train_loss") }
    public var stepMs: [Double] { step("step_ms") }
}

/// Where and as what a training run checkpoints itself.
public struct CheckpointTarget: Sendable {
    public var path: String
    /// Checked on resume: a checkpoint of another model or config is refused.
    public var modelName: String
    public var configJSON: String
    public var provenance: Provenance
    /// Set by `merge`: the configs of the sweep tasks whose run folders are being joined. The
    /// checkpoint must then be a finished one, written by one of them (or this config): a
    /// merge evaluates what the tasks trained and never trains.
    public var taskConfigs: Set<String>?
    public init(path: String, modelName: String, configJSON: String, provenance: Provenance, taskConfigs: Set<String>? = nil) {
        self.path = path; self.modelName = modelName; self.configJSON = configJSON; self.provenance = provenance
        self.taskConfigs = taskConfigs
    }
}

/// nanoGPT's loop for any model: iterations 0...maxIters (maxIters+1 updates), the named
/// evaluations every `evalInterval` iterations (before that iteration's update, in eval mode,
/// without gradients), warmup + cosine LR, gradient clipping, AdamW.
///
/// `loss` draws its batch from the data RNG it is handed and returns the scalar to minimise;
/// `evaluate` draws its batches from the same RNG (as nanoGPT's `estimate_loss` does) and returns
/// (name, value) pairs, logged and kept in `history.evals`.
///
/// Resumes from `checkpoint.path` when it exists (bit-identical to an uninterrupted run with
/// the same seed and thread count); a finished checkpoint returns its history at once. A
/// non-finite loss stops the run with the last good checkpoint kept.
public func train(
    _ model: some Trainable, config c: TrainConfig, seed: UInt64, checkpoint: CheckpointTarget, label: String = "",
    loss: (_ rng: inout RNG) -> Tensor, evaluate: (_ rng: inout RNG) -> [(name: String, value: Double)]
) throws -> TrainHistory {
    let optimizer = AdamW(model, lr: c.learningRate, weightDecay: c.weightDecay, beta1: c.beta1, beta2: c.beta2)
    let schedule = CosineSchedule(maxLR: c.learningRate, minLR: c.minLr, warmupIters: c.warmupIters, decayIters: c.lrDecayIters)
    var state = TrainState(step: 0, dataRNG: RNG(seed: seed), modelStreams: model.randomStreams, history: TrainHistory(), finished: false)
    let restored = try resume(checkpoint, model: model, optimizer: optimizer, label: label)
    if checkpoint.taskConfigs != nil && restored?.finished != true {
        throw ReplicateError("merge: \(checkpoint.path) is \(restored == nil ? "missing" : "unfinished") in the task folders; "
            + "a merge never trains: finish (or rerun) the task that trains it")
    }
    if let restored {
        state = restored
        model.randomStreams = state.modelStreams
        if state.finished { return state.history }
    }
    func save(finished: Bool) throws {
        state.modelStreams = model.randomStreams
        state.finished = finished
        try Checkpoint.save(checkpoint, model: model, optimizer: optimizer, state: state)
    }
    let params = model.parameters()
    let progress = Progress(total: c.maxIters + 1, label: label, start: state.step)
    while state.step <= c.maxIters {
        let it = state.step
        if it > 0 && it % c.checkpointInterval == 0 && state.history.iters.last == it - 1 { try save(finished: false) }
        optimizer.lr = schedule.lr(at: it)
        if it % c.evalInterval == 0 {
            let wasTraining = model.training
            model.training = false
            let results = noGrad { evaluate(&state.dataRNG) }
            model.training = wasTraining
            state.history.evalIters.append(it)
            for (name, value) in results { state.history.evals[name, default: []].append(value) }
            if !results.isEmpty { log("\(label)iter \(it): " + results.map { "\($0.name.replacingOccurrences(of: "_", with: " ")) \(fmt($0.value))" }
                .joined(separator: ", ")) }
        }
        let start = now()
        let lossTensor = loss(&state.dataRNG)
        let lossValue = lossTensor.item()
        guard lossValue.isFinite else {
            throw TrainingDiverged(iteration: it, loss: lossValue, history: state.history, description:
                "\(label)iteration \(it): training loss is \(lossValue); stopped. The last good checkpoint "
                + "(\(checkpoint.path)) is kept; lower learning_rate or check the data.")
        }
        model.zeroGrad()
        lossTensor.backward()
        let norm = clipGradNorm(params, maxNorm: c.gradClip)
        optimizer.update()
        let ms = (now() - start) * 1000
        state.history.iters.append(it)
        for (name, value) in [("train_loss", Double(lossValue)), ("lr", optimizer.lr), ("grad_norm", Double(norm)), ("step_ms", ms)] {
            state.history.steps[name, default: []].append(value)
        }
        state.step += 1
        progress.update(state.step, loss: Double(lossValue))
    }
    try save(finished: true)
    return state.history
}

/// A training loss that became NaN or infinite: the run stopped, its last good checkpoint kept.
/// A paper that studies stability catches it and counts the run as diverged, with the curve up
/// to that iteration.
public struct TrainingDiverged: Error, CustomStringConvertible {
    public let iteration: Int
    public let loss: Float
    /// Every update before the one that diverged (since the start, resumes included).
    public let history: TrainHistory
    public let description: String
}

/// The state to continue from: the latest checkpoint, or when it is damaged (or missing after a
/// crash between the two renames of a save) the previous one, with a warning that says how many
/// iterations are redone; the damaged file is moved aside so the next save cannot keep it. Nil
/// when there is neither (a fresh start). A checkpoint of another model, config or thread count
/// is an error, never a fallback.
func resume(_ checkpoint: CheckpointTarget, model: some Trainable, optimizer: AdamW, label: String) throws -> TrainState? {
    let fm = FileManager.default
    var previous = checkpoint
    previous.path = Checkpoint.previousPath(checkpoint.path)
    var damage: CheckpointDamage?
    if fm.fileExists(atPath: checkpoint.path) {
        do {
            let state = try Checkpoint.load(checkpoint, model: model, optimizer: optimizer)
            if !state.finished { log("\(label)resuming from \(checkpoint.path) at iteration \(state.step)") }
            return state
        } catch let e as CheckpointDamage {
            damage = e
        }
    }
    guard fm.fileExists(atPath: previous.path) else {
        if let damage { throw ReplicateError("\(damage); no previous checkpoint to fall back to: delete it to start over") }
        return nil
    }
    let state: TrainState
    do { state = try Checkpoint.load(previous, model: model, optimizer: optimizer) } catch let e as CheckpointDamage {
        throw ReplicateError("\(damage.map { "\($0); " } ?? "")the previous one is damaged too (\(e.problem)): delete both to start over")
    }
    if let damage {
        let aside = checkpoint.path + ".damaged"
        try? fm.removeItem(atPath: aside)
        try fm.moveItem(atPath: checkpoint.path, toPath: aside)
        let lost = (try? H5File.open(aside).intAttribute("step")).map { " (\(Int($0) - state.step) iterations are redone)" }
            ?? " (the iterations after it are redone; the damaged file does not say how many)"
        log("\(label)warning: \(damage.description); moved it to \(aside) and resuming from the previous checkpoint at iteration \(state.step)\(lost)")
    } else {
        log("\(label)warning: \(checkpoint.path) is missing; resuming from the previous checkpoint at iteration \(state.step)")
    }
    // The previous becomes the latest, so that the next save keeps it as the previous again.
    try fm.moveItem(atPath: previous.path, toPath: checkpoint.path)
    return state
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

// MARK: - Timing and formatting helpers every paper and bench use

/// Seconds since an arbitrary origin (monotonic).
@inline(__always) public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Median of a non-empty list (the mean of the two middle values for an even count).
public func median(_ x: [Double]) -> Double {
    precondition(!x.isEmpty, "median of an empty list")
    let s = x.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// "1m05s" or "12.3s".
public func duration(_ s: Double) -> String {
    s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.1fs", s)
}

func fmt(_ x: Double) -> String { String(format: "%.4f", x) }

/// Progress and status go to stderr, so stdout stays clean for results.
public func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

import Foundation
import HDF5
import NN
import TensorCore

/// Loss curves and timings of one training run; stored in checkpoints so a resumed run ends
/// with the same curves as an uninterrupted one.
public struct TrainHistory: Codable, Equatable, Sendable {
    public var iters: [Int] = []          // every update
    public var trainLoss: [Double] = []
    public var lr: [Double] = []
    public var gradNorm: [Double] = []
    public var stepMs: [Double] = []      // timing: never gated, differs on resume
    public var evalIters: [Int] = []
    public var evalTrain: [Double] = []
    public var evalVal: [Double] = []
    public init() {}
}

/// What a checkpoint restores besides the parameters and optimizer moments.
public struct TrainState: Sendable {
    public var step: Int                  // the next iteration to run
    public var dataRNG: RNG
    public var dropoutRNG: RNG
    public var history: TrainHistory
    public var finished: Bool
    public init(step: Int, dataRNG: RNG, dropoutRNG: RNG, history: TrainHistory, finished: Bool) {
        self.step = step; self.dataRNG = dataRNG; self.dropoutRNG = dropoutRNG; self.history = history; self.finished = finished
    }
}

/// Checkpoints in HDF5: `/params/<state_dict key>` (loads into the PyTorch model with
/// `{k: torch.from_numpy(f["params"][k][()]) for k in f["params"]}`), `/optimizer/exp_avg/<key>`,
/// `/optimizer/exp_avg_sq/<key>`, `/rng/*`, `/history/*`, and root attributes: format_version,
/// kind, model, config (JSON), step, finished, and the provenance.
public enum Checkpoint {
    public static let formatVersion: Int64 = 1

    public static func save(_ path: String, model: Module, optimizer: AdamW, state: TrainState,
                            modelName: String, configJSON: String, provenance: Provenance) throws {
        try H5File.writeAtomically(to: path) { f in
            try f.setAttribute("format_version", .int(formatVersion))
            try f.setAttribute("kind", .string("checkpoint"))
            try f.setAttribute("model", .string(modelName))
            try f.setAttribute("config", .string(configJSON))
            try f.setAttribute("step", .int(Int64(state.step)))
            try f.setAttribute("finished", .int(state.finished ? 1 : 0))
            try provenance.attach(to: f)
            for (name, p) in model.namedParameters() { try f.write("params/\(name)", p.toArray(), shape: p.shape) }
            for (name, m) in optimizer.expAvg { try f.write("optimizer/exp_avg/\(name)", m.toArray(), shape: m.shape) }
            for (name, v) in optimizer.expAvgSq { try f.write("optimizer/exp_avg_sq/\(name)", v.toArray(), shape: v.shape) }
            try f.setAttribute("step", .int(Int64(optimizer.step)), on: "optimizer")
            try f.write("rng/data", state.dataRNG.stateWords.map { Int64(bitPattern: $0) }, shape: [5])
            try f.write("rng/dropout", state.dropoutRNG.stateWords.map { Int64(bitPattern: $0) }, shape: [5])
            let h = state.history
            try f.write("history/iter", h.iters.map(Int64.init), shape: [h.iters.count])
            try f.write("history/train_loss", h.trainLoss, shape: [h.trainLoss.count])
            try f.write("history/lr", h.lr, shape: [h.lr.count])
            try f.write("history/grad_norm", h.gradNorm, shape: [h.gradNorm.count])
            try f.write("history/step_ms", h.stepMs, shape: [h.stepMs.count])
            try f.write("history/eval_iter", h.evalIters.map(Int64.init), shape: [h.evalIters.count])
            try f.write("history/eval_train_loss", h.evalTrain, shape: [h.evalTrain.count])
            try f.write("history/eval_val_loss", h.evalVal, shape: [h.evalVal.count])
        }
    }

    /// Restore `model` and `optimizer` in place. Throws a one-line error naming the file when
    /// it is unreadable, of another format, or written for another model or config.
    public static func load(_ path: String, model: Module, optimizer: AdamW, modelName: String, configJSON: String) throws -> TrainState {
        func fail(_ problem: String) -> ReplicateError { ReplicateError("checkpoint \(path): \(problem)") }
        do {
            let f = try H5File.open(path)
            guard try f.intAttribute("format_version") == formatVersion else {
                throw fail("format version \(try f.intAttribute("format_version")), this build reads \(formatVersion)")
            }
            let model0 = try f.stringAttribute("model")
            guard model0 == modelName else { throw fail("written for model \"\(model0)\", not \"\(modelName)\"") }
            let saved = try f.stringAttribute("config")
            guard saved == configJSON else {
                throw fail("written with another config; delete it or start a new run.\n  checkpoint: \(saved)\n  this run:   \(configJSON)")
            }
            var params: [String: (values: [Float], shape: [Int])] = [:]
            for name in try f.children(of: "params") { params[name] = try f.read("params/\(name)", as: Float.self) }
            do { try model.loadStateDict(params) } catch { throw fail("\(error)") }
            var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
            for name in try f.children(of: "optimizer/exp_avg") {
                m[name] = try f.read("optimizer/exp_avg/\(name)", as: Float.self).values
                v[name] = try f.read("optimizer/exp_avg_sq/\(name)", as: Float.self).values
            }
            do { try optimizer.restore(step: Int(try f.intAttribute("step", of: "optimizer")), expAvg: m, expAvgSq: v) } catch {
                throw fail("\(error)")
            }
            func words(_ p: String) throws -> [UInt64] { try f.read(p, as: Int64.self).values.map { UInt64(bitPattern: $0) } }
            var h = TrainHistory()
            h.iters = try f.read("history/iter", as: Int64.self).values.map { Int($0) }
            h.trainLoss = try f.read("history/train_loss", as: Double.self).values
            h.lr = try f.read("history/lr", as: Double.self).values
            h.gradNorm = try f.read("history/grad_norm", as: Double.self).values
            h.stepMs = try f.read("history/step_ms", as: Double.self).values
            h.evalIters = try f.read("history/eval_iter", as: Int64.self).values.map { Int($0) }
            h.evalTrain = try f.read("history/eval_train_loss", as: Double.self).values
            h.evalVal = try f.read("history/eval_val_loss", as: Double.self).values
            return TrainState(step: Int(try f.intAttribute("step")), dataRNG: RNG(stateWords: try words("rng/data")),
                              dropoutRNG: RNG(stateWords: try words("rng/dropout")), history: h,
                              finished: try f.intAttribute("finished") != 0)
        } catch let e as ReplicateError {
            throw e
        } catch {
            throw fail("\(error)")
        }
    }
}

import Foundation
import HDF5
import NN
import TensorCore

/// What a checkpoint restores besides the parameters and optimizer moments.
public struct TrainState: Sendable {
    public var step: Int                  // the next iteration to run
    public var dataRNG: RNG
    /// The model's own random streams by name (`Trainable.randomStreams`).
    public var modelStreams: [String: RNG]
    public var history: TrainHistory
    public var finished: Bool
    public init(step: Int, dataRNG: RNG, modelStreams: [String: RNG], history: TrainHistory, finished: Bool) {
        self.step = step; self.dataRNG = dataRNG; self.modelStreams = modelStreams; self.history = history; self.finished = finished
    }
}

/// Checkpoints in HDF5: `/params/<state_dict key>` (loads into the PyTorch model with
/// `{k: torch.from_numpy(f["params"][k][()]) for k in f["params"]}`), `/optimizer/exp_avg/<key>`,
/// `/optimizer/exp_avg_sq/<key>`, `/rng/data` and `/rng/<model stream>` (xoshiro state words),
/// `/history/iter` and `/history/<per-update series>`, `/history/eval_iter` and
/// `/history/eval_<evaluation>`, and root attributes: format_version, kind, model, config (JSON),
/// step, finished, and the provenance (threads among it: a resume must use the same count).
public enum Checkpoint {
    public static let formatVersion: Int64 = 1

    /// Where the checkpoint before the latest is kept: a damaged latest is survived from it.
    public static func previousPath(_ path: String) -> String {
        (path.hasSuffix(".h5") ? String(path.dropLast(3)) : path) + ".previous.h5"
    }

    /// Write the checkpoint, keeping the one it replaces as `previousPath`: the latest moves
    /// aside by an atomic rename, then the new one is written to a temporary name and renamed
    /// into place. A crash at any point leaves at least one complete checkpoint.
    public static func save(_ target: CheckpointTarget, model: Module, optimizer: AdamW, state: TrainState) throws {
        if FileManager.default.fileExists(atPath: target.path) {
            guard rename(target.path, previousPath(target.path)) == 0 else {
                throw ReplicateError("checkpoint \(target.path): cannot keep it as \(previousPath(target.path)) (errno \(errno))")
            }
        }
        try H5File.writeAtomically(to: target.path) { f in
            try f.setAttribute("format_version", .int(formatVersion))
            try f.setAttribute("kind", .string("checkpoint"))
            try f.setAttribute("model", .string(target.modelName))
            try f.setAttribute("config", .string(target.configJSON))
            try f.setAttribute("step", .int(Int64(state.step)))
            try f.setAttribute("finished", .int(state.finished ? 1 : 0))
            try target.provenance.attach(to: f)
            for (name, p) in model.namedParameters() { try f.write("params/\(name)", p.toArray(), shape: p.shape) }
            for (name, m) in optimizer.expAvg { try f.write("optimizer/exp_avg/\(name)", m.toArray(), shape: m.shape) }
            for (name, v) in optimizer.expAvgSq { try f.write("optimizer/exp_avg_sq/\(name)", v.toArray(), shape: v.shape) }
            try f.setAttribute("step", .int(Int64(optimizer.step)), on: "optimizer")
            try f.write("rng/data", state.dataRNG.stateWords.map { Int64(bitPattern: $0) }, shape: [5])
            for (name, rng) in state.modelStreams.sorted(by: { $0.key < $1.key }) {
                try f.write("rng/\(name)", rng.stateWords.map { Int64(bitPattern: $0) }, shape: [5])
            }
            let h = state.history
            try f.write("history/iter", h.iters.map(Int64.init), shape: [h.iters.count])
            for (name, values) in h.steps.sorted(by: { $0.key < $1.key }) { try f.write("history/\(name)", values, shape: [values.count]) }
            try f.write("history/eval_iter", h.evalIters.map(Int64.init), shape: [h.evalIters.count])
            for (name, values) in h.evals.sorted(by: { $0.key < $1.key }) { try f.write("history/eval_\(name)", values, shape: [values.count]) }
        }
    }

    /// Restore `model` and `optimizer` in place. Throws a one-line error naming the file when
    /// it is unreadable, of another format, written for another model or config, or with another
    /// thread count (the chunking of parallel sums depends on it, so the resumed run would not be
    /// bit-identical to an uninterrupted one).
    public static func load(_ target: CheckpointTarget, model: Module, optimizer: AdamW) throws -> TrainState {
        let path = target.path
        func fail(_ problem: String) -> ReplicateError { ReplicateError("checkpoint \(path): \(problem)") }
        do {
            let f = try H5File.open(path)
            guard try f.intAttribute("format_version") == formatVersion else {
                throw fail("format version \(try f.intAttribute("format_version")), this build reads \(formatVersion); "
                    + "finish it with the build that wrote it (commit \((try? f.stringAttribute("git_commit")) ?? "unknown")) or delete it to start over")
            }
            let model0 = try f.stringAttribute("model")
            guard model0 == target.modelName else { throw fail("written for model \"\(model0)\", not \"\(target.modelName)\"") }
            let saved = try f.stringAttribute("config")
            guard saved == target.configJSON || target.taskConfigs?.contains(saved) == true else {
                throw fail("written with another config; delete it or start a new run.\n  checkpoint: \(saved)\n  this run:   \(target.configJSON)")
            }
            let threads = try f.intAttribute("threads")
            guard threads == Int64(target.provenance.threads) else {
                throw fail("written with \(threads) threads, this run has \(target.provenance.threads): resuming would not be "
                    + "bit-identical to an uninterrupted run. Rerun with --threads \(threads), or delete the checkpoint to start over")
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
            func rng(_ p: String) throws -> RNG { RNG(stateWords: try f.read(p, as: Int64.self).values.map { UInt64(bitPattern: $0) }) }
            var streams: [String: RNG] = [:]
            for name in try f.children(of: "rng") where name != "data" { streams[name] = try rng("rng/\(name)") }
            var h = TrainHistory()
            h.iters = try f.read("history/iter", as: Int64.self).values.map { Int($0) }
            h.evalIters = try f.read("history/eval_iter", as: Int64.self).values.map { Int($0) }
            for name in try f.children(of: "history") where name != "iter" && name != "eval_iter" {
                let values = try f.read("history/\(name)", as: Double.self).values
                if name.hasPrefix("eval_") { h.evals[String(name.dropFirst(5))] = values } else { h.steps[name] = values }
            }
            return TrainState(step: Int(try f.intAttribute("step")), dataRNG: try rng("rng/data"), modelStreams: streams,
                              history: h, finished: try f.intAttribute("finished") != 0)
        } catch let e as ReplicateError {
            throw e
        } catch {
            throw CheckpointDamage(path: path, problem: "\(error)")
        }
    }
}

/// A checkpoint that cannot be read (truncated, a checksum mismatch, missing datasets), as opposed
/// to one written for another model, config or thread count: only damage is survived by falling
/// back to the previous checkpoint.
public struct CheckpointDamage: Error, CustomStringConvertible {
    public let path: String, problem: String
    public var description: String { "checkpoint \(path): \(problem)" }
}

import Foundation
import Testing
@testable import Replicate

// The toolkit's reliability promises, tested through the real paper executable where it
// matters (a SIGKILL can only be tested on another process).

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// An executable of this package built beside this test bundle (or in .build/debug|release).
func packageExecutable(_ name: String) -> String? {
    var dir = Bundle.main.bundleURL
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    for config in ["debug", "release"] {
        let p = "\(packageRoot)/.build/\(config)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// The nanogpt executable (`swift build --build-tests` builds it).
let nanogptExecutable = packageExecutable("nanogpt")

/// The first of `candidates` that runs `import <modules>`, or nil.
func pythonImporting(_ modules: String, candidates: [String?]) -> String? {
    for case let path? in candidates where FileManager.default.isExecutableFile(atPath: path) {
        if (try? runProcess(path, ["-c", "import " + modules]))?.status == 0 { return path }
    }
    return nil
}

/// A python that imports torch and h5py: $REPLICATE_TORCH_PYTHON or make bench-setup's venv.
let torchPython = pythonImporting("torch, h5py", candidates: [ProcessInfo.processInfo.environment["REPLICATE_TORCH_PYTHON"],
                                                              packageRoot + "/.venv-bench/bin/python"])

func temporaryDirectory(_ tag: String) throws -> String {
    let d = NSTemporaryDirectory() + "replicate-\(tag)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A tiny nanoGPT: a few seconds even in a debug build, checkpoints every 20 iterations.
let tinyRun = ["--preset", "ci", "--threads", "2", "n_layer=1", "n_head=2", "n_embd=32", "block_size=16",
               "batch_size=4", "max_iters=120", "lr_decay_iters=120", "warmup_iters=10", "eval_interval=40",
               "eval_iters=2", "checkpoint_interval=20", "sample_chars=20"]

/// Starts a paper's executable (nanogpt unless named) with `root` (the package root unless named)
/// as its REPLICATE_ROOT and working directory; its stderr is returned.
func launch(_ args: [String], executable: String? = nil, root: String = packageRoot) throws -> (Process, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable ?? nanogptExecutable!)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: root)
    var env = ProcessInfo.processInfo.environment
    env["REPLICATE_ROOT"] = root
    p.environment = env
    let err = Pipe()
    p.standardError = err
    p.standardOutput = Pipe()
    try p.run()
    return (p, err)
}

func runToEnd(_ args: [String], executable: String? = nil, root: String = packageRoot) throws -> (status: Int32, log: String) {
    let (p, err) = try launch(args, executable: executable, root: root)
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs a paper's reference/check_pytorch.py on a seed folder with the torch python.
func runPyTorchCheck(paper: String, _ seedDir: String) throws -> (status: Int32, output: String) {
    try runProcess(torchPython!, [packageRoot + "/papers/\(paper)/reference/check_pytorch.py", seedDir])
}

func onlyRunDir(_ runs: String) throws -> String {
    let parent = runs + "/nanogpt"
    let dirs = try FileManager.default.contentsOfDirectory(atPath: parent)
    #expect(dirs.count == 1, "expected one run folder, found \(dirs)")
    return parent + "/" + dirs[0]
}

@Suite(.serialized, .enabled(if: nanogptExecutable != nil, "nanogpt executable not built"))
struct ResumeTests {
    @Test func sigkillThenRerunEndsBitIdentical() throws {
        let clean = try temporaryDirectory("clean"), killed = try temporaryDirectory("killed")
        defer { try? FileManager.default.removeItem(atPath: clean); try? FileManager.default.removeItem(atPath: killed) }

        let a = try runToEnd(["run", "--runs", clean] + tinyRun)
        #expect(a.status == 0, "uninterrupted run failed:\n\(a.log)")
        let reference = try readMetrics(try onlyRunDir(clean) + "/metrics.json")

        // Kill once the checkpoint of iteration 40 or later exists, i.e. after it was renamed
        // into place: the resumed run must start mid-way, not from scratch or the end.
        let (p, err) = try launch(["run", "--runs", killed] + tinyRun)
        var killedAt: Int64 = -1
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning && Date() < deadline {
            if let dir = try? onlyRunDir(killed), let f = try? H5File.open(dir + "/seed-1/checkpoint.h5"),
               let step = try? f.intAttribute("step"), step >= 40, (try? f.intAttribute("finished")) == 0 {
                kill(p.processIdentifier, SIGKILL)
                killedAt = step
                break
            }
            usleep(2_000)
        }
        p.waitUntilExit()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        try #require(killedAt >= 40, "the run finished before it could be killed; make tinyRun longer")
        #expect(p.terminationReason == .uncaughtSignal)
        let dir = try onlyRunDir(killed)
        #expect(!FileManager.default.fileExists(atPath: dir + "/report.md"))

        // Resuming with another thread count would not be bit-identical: refused, checkpoint untouched.
        let checkpointBytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/seed-1/checkpoint.h5"))
        var oneThread = tinyRun
        oneThread[oneThread.firstIndex(of: "--threads")! + 1] = "1"
        let wrong = try runToEnd(["run", "--runs", killed] + oneThread)
        #expect(wrong.status == 1 && wrong.log.contains("written with 2 threads, this run has 1"), "\(wrong.log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/seed-1/checkpoint.h5")) == checkpointBytes)

        // The latest checkpoint cut in half (a disk filled up, say): the rerun falls back to the
        // previous one, says so, and still ends bit-identical.
        let latest = dir + "/seed-1/checkpoint.h5"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: latest))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: latest))
        #expect(FileManager.default.fileExists(atPath: dir + "/seed-1/checkpoint.previous.h5"))

        let b = try runToEnd(["run", "--runs", killed] + tinyRun)
        #expect(b.status == 0, "resumed run failed:\n\(b.log)")
        #expect(b.log.contains("resuming from the previous checkpoint at iteration") && b.log.contains("are redone"),
                "the rerun did not fall back to the previous checkpoint:\n\(b.log)")
        #expect(try onlyRunDir(killed) == dir, "the rerun must continue the unfinished folder")
        let resumed = try readMetrics(dir + "/metrics.json")
        for (name, value) in reference where !isTimingMetric(name) {
            #expect(resumed[name]?.bitPattern == value.bitPattern, "\(name): \(String(describing: resumed[name])) vs \(value)")
        }
        #expect(Set(resumed.keys) == Set(reference.keys))
        // The loss curve, not only the final numbers.
        let curveA = try H5File.open(try onlyRunDir(clean) + "/seed-1/checkpoint.h5").read("history/train_loss", as: Double.self)
        let curveB = try H5File.open(dir + "/seed-1/checkpoint.h5").read("history/train_loss", as: Double.self)
        #expect(curveA.values == curveB.values && curveA.values.count == 121)

        // A finished run folder is never reused: the same command makes a second folder.
        let c = try runToEnd(["run", "--runs", killed] + tinyRun)
        #expect(c.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: killed + "/nanogpt").count == 2)

        // Every HDF5 output carries its provenance.
        for file in ["metrics.h5", "seed-1/checkpoint.h5", "seed-1/activations.h5"] {
            let f = try H5File.open(dir + "/" + file)
            #expect(try f.stringAttribute("git_commit").count >= 7, "\(file)")
            #expect(try f.intAttribute("threads") == 2, "\(file)")
            #expect(try !f.stringAttribute("config").isEmpty, "\(file)")
            #expect(try !f.stringAttribute("cpu").isEmpty, "\(file)")
        }
        for file in ["report.md", "report.html", "figures/val_loss.png", "figures/attention_l0h0.png"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file) missing")
        }
    }

    /// Our trained model loaded into an independent PyTorch GPT gives the same activations and
    /// loss (papers/nanogpt/reference/check_pytorch.py). Needs torch: `make bench-setup`.
    /// T = 16 runs attention on the row kernel, T = 130 on the blocked SGEMM kernel (forward
    /// and, through the trained weights, backward).
    @Test(.enabled(if: torchPython != nil, "no python with torch (make bench-setup)"), arguments: [16, 130])
    func pytorchReferenceAgrees(blockSize: Int) throws {
        let runs = try temporaryDirectory("torch")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let short = tinyRun.map {
            $0.hasPrefix("max_iters=") ? "max_iters=30" : $0.hasPrefix("lr_decay_iters=") ? "lr_decay_iters=30"
                : $0.hasPrefix("block_size=") ? "block_size=\(blockSize)" : $0.hasPrefix("batch_size=") && blockSize > 16 ? "batch_size=1" : $0
        }
        let r = try runToEnd(["run", "--runs", runs] + short)
        try #require(r.status == 0, "\(r.log)")
        let (status, text) = try runPyTorchCheck(paper: "nanogpt", try onlyRunDir(runs) + "/seed-1")
        #expect(status == 0, "\(text)")
        #expect(text.contains("loss: ours"), "the loss was not compared:\n\(text)")
        #expect(text.contains("transformer.h.0.attn.weights"), "\(text)")
        #expect(text.contains(", \(blockSize), "), "activations were not compared at T = \(blockSize):\n\(text)")
    }

    /// Every Hilsenbek variant (attention, min/max/mean, both context vectors, the activation
    /// replacement), trained briefly, loaded into the independent PyTorch model of
    /// papers/hilsenbek/reference/check_pytorch.py: same activations and loss. Needs torch.
    @Test(.enabled(if: torchPython != nil && packageExecutable("hilsenbek") != nil, "no torch python or no hilsenbek binary"))
    func hilsenbekVariantsAgreeWithPyTorch() throws {
        let runs = try temporaryDirectory("hilsenbek-torch")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs, "--preset", "ci", "--threads", "2", "n_layer=2", "n_head=2", "n_embd=32",
                              "block_size=16", "batch_size=4", "max_iters=30", "lr_decay_iters=30", "warmup_iters=5",
                              "eval_interval=15", "eval_iters=2", "checkpoint_interval=15", "sample_chars=10", "leak_eval_batches=1"],
                             executable: packageExecutable("hilsenbek")!)
        try #require(r.status == 0, "\(r.log)")
        let dirs = try FileManager.default.contentsOfDirectory(atPath: runs + "/hilsenbek")
        try #require(dirs.count == 1, "\(dirs)")
        let (status, text) = try runPyTorchCheck(paper: "hilsenbek", runs + "/hilsenbek/" + dirs[0] + "/seed-1")
        #expect(status == 0, "\(text)")
        #expect(text.contains("7 variant(s)"), "\(text)")
        for variant in ["min", "max_context", "max_prefix_context", "mlp_min"] {
            #expect(text.contains("== \(variant) ("), "\(variant) was not compared:\n\(text)")
        }
    }

    @Test func aRunFolderHasOneWriter() throws {
        let runs = try temporaryDirectory("lock")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let (first, err) = try launch(["run", "--runs", runs] + tinyRun)
        // Start the second once the first holds the folder (its lock file names its pid).
        let deadline = Date().addingTimeInterval(120)
        var dir = ""
        while Date() < deadline {
            // Polled without onlyRunDir: its #require records a failure while the folder does not exist yet.
            let found = (try? FileManager.default.contentsOfDirectory(atPath: runs + "/nanogpt")) ?? []
            if found.count == 1, case let d = runs + "/nanogpt/" + found[0], let pid = try? String(contentsOfFile: d + "/.lock", encoding: .utf8),
               pid.trimmingCharacters(in: .whitespacesAndNewlines) == "\(first.processIdentifier)" { dir = d; break }
            usleep(5_000)
        }
        try #require(!dir.isEmpty && first.isRunning, "the first run did not take its folder's lock in time")
        let second = try runToEnd(["run", "--runs", runs] + tinyRun)
        #expect(second.status == 1 && second.log.contains("is in use by another run (pid \(first.processIdentifier))"), "\(second.log)")
        first.waitUntilExit()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        #expect(first.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/report.md"), "the first run was disturbed")
        // A lock file left by a process that is gone does not block the folder.
        try "999999\n".write(toFile: dir + "/.lock", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/report.md")
        let third = try runToEnd(["run", "--runs", runs] + tinyRun)
        #expect(third.status == 0 && third.log.contains("taking over from pid 999999"), "\(third.log)")
    }

    @Test func badCommandLinesAreOneLineErrors() throws {
        let runs = try temporaryDirectory("badargs")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let cases: [([String], String)] = [
            (["run", "--runs", runs, "max_itres=10"], "unknown config key \"max_itres\""),
            (["run", "--runs", runs, "max_iters=ten"], "config key \"max_iters\" takes a number, got \"ten\""),
            (["run", "--runs", runs, "max_iters=10.5"], "config key \"max_iters\" cannot be \"10.5\""),
            (["run", "--runs", runs, "--preset", "huge"], "unknown preset \"huge\""),
            (["run", "--runs", runs, "--threads", "0"], "--threads takes a positive integer"),
            (["frobnicate"], "unknown command \"frobnicate\""),
            (["run", "--runs", runs, "batch_size=0"], "config key \"batch_size\" = 0: must be at least 1"),
            (["run", "--runs", runs, "max_iters=-5"], "config key \"max_iters\" = -5: must be 0 or more"),
            (["run", "--runs", runs, "--seeds", "1,1"], "seeds [1, 1] repeat a seed"),
        ]
        for (args, message) in cases {
            let r = try runToEnd(args)
            #expect(r.status == 1, "\(args)")
            #expect(r.log.contains("error: " + message), "\(args): \(r.log)")
        }
        // Nothing was started for any of them.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: runs + "/nanogpt"))?.isEmpty ?? true)
        // A block longer than the data can only be told once the data is read: still one line, no checkpoint.
        let r = try runToEnd(["run", "--runs", runs, "--preset", "ci", "block_size=200000"])
        #expect(r.status == 1 && r.log.contains("error: config key \"block_size\" = 200000: must be below"), "\(r.log)")
        #expect(!FileManager.default.fileExists(atPath: try onlyRunDir(runs) + "/seed-1/checkpoint.h5"))
    }
}

// MARK: - Checkpoints

struct TinyCase {
    let data: CharDataset
    var config = TrainConfig()
    let gpt: GPTConfig
    init() throws {
        data = try CharDataset.tinyShakespeare(store: DataStore(root: packageRoot))
        gpt = GPTConfig(vocabSize: data.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16)
        config.batchSize = 2; config.maxIters = 6; config.lrDecayIters = 6
        config.warmupIters = 2; config.evalInterval = 3; config.evalIters = 1; config.checkpointInterval = 3
    }
    func target(_ path: String, model: String = "tiny", configJSON: String = "{\"tiny\":1}", threads: Int = 1) -> CheckpointTarget {
        CheckpointTarget(path: path, modelName: model, configJSON: configJSON,
                         provenance: Provenance.current(seeds: [1], threads: threads, root: packageRoot))
    }
    func train(_ model: GPT, path: String, configJSON: String = "{\"tiny\":1}") throws -> TrainHistory {
        try trainLanguageModel(model, data: data, block: 8, config: config, seed: 1, checkpoint: target(path, configJSON: configJSON))
    }
    func load(_ path: String, into model: GPT, model name: String = "tiny", configJSON: String = "{\"tiny\":1}",
              threads: Int = 1) throws -> TrainState {
        try Checkpoint.load(target(path, model: name, configJSON: configJSON, threads: threads), model: model,
                            optimizer: AdamW(model, lr: 1e-3, weightDecay: 0.1))
    }
}

@Test func checkpointRoundTripsAndRejectsOtherConfigsAndModels() throws {
    let tiny = try TinyCase()
    let dir = try temporaryDirectory("ckpt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint.h5"
    let model = GPT(tiny.gpt, seed: 1)
    let history = try tiny.train(model, path: path)
    let original = try Data(contentsOf: URL(fileURLWithPath: path))

    // Loads back into a fresh model: same parameters, same history.
    let fresh = GPT(tiny.gpt, seed: 99)
    let state = try tiny.load(path, into: fresh)
    #expect(state.finished && state.step == 7 && state.history == history)
    #expect(Set(history.evals.keys) == ["train_loss", "val_loss"] && history.evalIters == [0, 3, 6])
    #expect(Set(history.steps.keys) == ["train_loss", "lr", "grad_norm", "step_ms"] && history.iters == Array(0...6))
    for ((n1, p1), (n2, p2)) in zip(model.namedParameters(), fresh.namedParameters()) {
        #expect(n1 == n2 && p1.toArray() == p2.toArray(), "\(n1)")
    }

    // Another config: the message names the file and shows both configs.
    let other = GPT(tiny.gpt, seed: 1)
    #expect {
        try tiny.load(path, into: other, configJSON: "{\"tiny\":2}")
    } throws: { "\($0)".contains("checkpoint \(path): written with another config") && "\($0)".contains("{\"tiny\":2}") }
    // Another model name.
    #expect {
        try tiny.load(path, into: other, model: "hilsenbek-min")
    } throws: { "\($0)" == "checkpoint \(path): written for model \"tiny\", not \"hilsenbek-min\"" }
    // Another thread count: refused, naming both counts (the sums' chunking would differ).
    #expect {
        try tiny.load(path, into: other, threads: 3)
    } throws: { "\($0)".contains("written with 1 threads, this run has 3") && "\($0)".contains("--threads 1") }
    // Another architecture under the same name and config: the state-dict check catches it.
    var wider = tiny.gpt; wider.nEmbd = 32
    let big = GPT(wider, seed: 1)
    #expect {
        try tiny.load(path, into: big)
    } throws: { "\($0)".hasPrefix("checkpoint \(path): ") && "\($0)".contains("shape") }

    // Truncated: a clear error naming the file; the training entry point refuses to overwrite it.
    let truncated = dir + "/truncated.h5"
    try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: truncated))
    #expect {
        try tiny.load(truncated, into: other)
    } throws: { "\($0)".hasPrefix("checkpoint \(truncated): ") }
    #expect(throws: (any Error).self) { _ = try tiny.train(GPT(tiny.gpt, seed: 1), path: truncated) }
    #expect(try Data(contentsOf: URL(fileURLWithPath: truncated)) == original.prefix(original.count / 2))
    // Nothing above touched the good checkpoint.
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
}

@Test func aFlippedBitInTheLatestCheckpointFallsBackToThePreviousBitIdentically() throws {
    let tiny = try TinyCase()
    let dir = try temporaryDirectory("flip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint.h5"
    let history = try tiny.train(GPT(tiny.gpt, seed: 1), path: path)      // checkpoints at 3 and 6, then the finished one
    #expect(try H5File.open(Checkpoint.previousPath(path)).intAttribute("step") == 6)
    // Flip one bit inside a stored parameter (uncompressed: only its checksum can tell).
    let f = try H5File.open(path)
    let w = try f.read("params/transformer.h.0.attn.c_proj.weight", as: Float.self).values
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let pattern = withUnsafeBytes(of: w[7]) { Array($0) }
    let at = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == pattern })
    bytes[at + 1] ^= 0x04
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let model = GPT(tiny.gpt, seed: 1)
    let again = try tiny.train(model, path: path)
    // Everything but the timings (redone steps are timed anew).
    #expect(again.iters == history.iters && again.evalIters == history.evalIters && again.evals == history.evals)
    for name in ["train_loss", "lr", "grad_norm"] {
        #expect(again.step(name) == history.step(name), "\(name) differs after resuming from the previous checkpoint")
    }
    #expect(FileManager.default.fileExists(atPath: path + ".damaged"))
    #expect(try H5File.open(path).intAttribute("finished") == 1)
}

@Test func nanLossStopsWithAClearErrorAndKeepsTheLastCheckpoint() throws {
    var tiny = try TinyCase()
    let dir = try temporaryDirectory("nan")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint.h5"
    tiny.config.maxIters = 12
    // A learning rate that blows the weights up: the loss becomes Inf/NaN within a few updates.
    tiny.config.learningRate = 1e30; tiny.config.minLr = 1e30; tiny.config.gradClip = 1e30
    let model = GPT(tiny.gpt, seed: 1)
    #expect {
        _ = try tiny.train(model, path: path)
    } throws: { error in
        let m = "\(error)"
        return m.contains("training loss is") && (m.contains("nan") || m.contains("inf")) && m.contains(path)
    }
    // The checkpoints written before the blow-up are intact and resumable to the same failure.
    if FileManager.default.fileExists(atPath: path) {
        let f = try H5File.open(path)
        #expect(try f.intAttribute("finished") == 0)
        #expect(try f.read("history/train_loss", as: Double.self).values.allSatisfy(\.isFinite))
    }
}

// MARK: - Overrides and baselines

struct SampleConfig: Codable, Equatable {
    var maxIters = 10
    var learningRate = 1e-3
    var dropout: Float = 0
    var bias = false
    var seeds: [UInt64] = [1, 2]
    var name = "x"
}

struct NestedConfig: Codable, Equatable {
    struct Part: Codable, Equatable { var width = 8; var depth = 2 }
    var model = Part()
    var head = Part()
    var train = TrainConfig()
    var seeds: [UInt64] = [1]
}

@Test func overridesAreTypeChecked() throws {
    let c = try applyOverrides(["max_iters=20", "learning_rate=3e-4", "bias=true", "seeds=4,5,6", "name=y", "dropout=0.1"],
                               to: SampleConfig())
    #expect(c == SampleConfig(maxIters: 20, learningRate: 3e-4, dropout: 0.1, bias: true, seeds: [4, 5, 6], name: "y"))
    let failures: [(String, String)] = [
        ("max_itres=3", "unknown config key \"max_itres\"; did you mean \"max_iters\"?; valid keys: bias, dropout, learning_rate, max_iters, name, seeds"),
        ("max_iters=3.5", "config key \"max_iters\" cannot be \"3.5\" (a number of another type expected)"),
        ("bias=yes", "config key \"bias\" takes true or false, got \"yes\""),
        ("seeds=1,x", "config key \"seeds\" takes a comma-separated list, got \"1,x\""),
        ("learning_rate=nan", "config key \"learning_rate\" takes a number, got \"nan\""),
        ("max_iters", "override \"max_iters\" is not key=value"),
        ("seeds=-1", "config key \"seeds\" cannot be \"-1\" (a comma-separated list of another type expected)"),
    ]
    for (override, message) in failures {
        #expect { try applyOverrides([override], to: SampleConfig()) } throws: { "\($0)" == message }
    }
}

@Test func nestedConfigsTakeLeafNamesAndDottedPaths() throws {
    // nanoGPT's keys keep working inside `train`; a name two groups share needs its path.
    let c = try applyOverrides(["max_iters=7", "train.batch_size=3", "model.width=16", "seeds=4"], to: NestedConfig())
    #expect(c.train.maxIters == 7 && c.train.batchSize == 3 && c.model.width == 16 && c.head.width == 8 && c.seeds == [4])
    #expect { try applyOverrides(["width=3"], to: NestedConfig()) } throws: {
        "\($0)" == "config key \"width\" is ambiguous; say which: head.width, model.width"
    }
    #expect { try applyOverrides(["max_iter=3"], to: NestedConfig()) } throws: { "\($0)".contains("did you mean \"max_iters\"?") }
    #expect { try applyOverrides(["train.max_iters=x"], to: NestedConfig()) } throws: {
        "\($0)" == "config key \"train.max_iters\" takes a number, got \"x\""
    }
}

@Test func trainConfigRangesAreCheckedByName() throws {
    for (override, key) in [("batch_size=0", "batch_size"), ("max_iters=-5", "max_iters"), ("eval_interval=0", "eval_interval"),
                            ("learning_rate=0", "learning_rate"), ("beta2=1", "beta2")] {
        let c = try applyOverrides([override], to: NestedConfig())
        #expect { try c.train.validate() } throws: { "\($0)".hasPrefix("config key \"\(key)\" = ") }
    }
    try TrainConfig().validate()
}

@Test func checkFailsWhenABlessedMetricIsPerturbed() throws {
    let dir = try temporaryDirectory("check")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let metrics = ["val_loss_final": 2.4536, "params_total": 804_096, "step_ms": 55.0]
    try writeMetrics(metrics, to: dir + "/metrics.json")
    let baseline = try bless(obtained: metrics, previous: nil, defaults: Tolerance(atol: 1e-6, rtol: 1e-3), paper: "t", preset: "ci")
    try baseline.write(to: dir + "/ci.json")
    try compare(dir: dir, baselinePath: dir + "/ci.json")                          // identical: passes

    try writeMetrics(["val_loss_final": 2.4536 * (1 + 5e-4), "params_total": 804_096, "step_ms": 500.0], to: dir + "/metrics.json")
    try compare(dir: dir, baselinePath: dir + "/ci.json")                          // within rtol; timing not gated

    try writeMetrics(["val_loss_final": 2.4536 * (1 + 2e-3), "params_total": 804_096, "step_ms": 55.0], to: dir + "/metrics.json")
    #expect { try compare(dir: dir, baselinePath: dir + "/ci.json") } throws: { "\($0)".contains("differ from") }

    try writeMetrics(["params_total": 804_096], to: dir + "/metrics.json")       // a metric went missing
    #expect(throws: ReplicateError.self) { try compare(dir: dir, baselinePath: dir + "/ci.json") }
    #expect { try compare(dir: dir, baselinePath: dir + "/none.json") } throws: { "\($0)".contains("make bless") }
}

@Test func committedBaselinesGateEveryNonTimingMetric() throws {
    // Each paper's expected/ci.json must exist and hold the metrics its ci run reports.
    let papers = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/papers")
        .filter { FileManager.default.fileExists(atPath: "\(packageRoot)/papers/\($0)/main.swift") }
    #expect(!papers.isEmpty)
    for p in papers {
        let b = try Baseline.load("\(packageRoot)/papers/\(p)/expected/ci.json")
        #expect(b.preset == "ci" && b.paper == p)
        #expect(!b.metrics.isEmpty)
        #expect(b.metrics.keys.allSatisfy { !isTimingMetric($0) }, "\(p): a timing is gated")
    }
}

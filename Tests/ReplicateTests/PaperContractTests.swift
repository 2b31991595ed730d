import Foundation
import Testing
@testable import Replicate

// What every paper executable promises through the shared runner: the seeds that ran are the
// seeds every input came from and the seeds every record names; the template paper runs end to
// end and its numbers are recomputed from its HDF5 files by an independent script.

/// A python3 that imports numpy and h5py, or nil.
let numpyPython = pythonImporting("numpy, h5py", candidates: ["/usr/bin/python3"]
    + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" })

func onlyRunDir(_ runs: String, paper: String) throws -> String {
    let dirs = try FileManager.default.contentsOfDirectory(atPath: runs + "/" + paper)
    try #require(dirs.count == 1, "expected one run folder, found \(dirs)")
    return runs + "/" + paper + "/" + dirs[0]
}

@Suite(.serialized) struct PaperContractTests {
    /// A small LeanAttention run: exactness for G ≤ 3 on two lengths, one timing point.
    static let tinyLean = ["--preset", "ci", "--threads", "2", "exact_max_workers=3", "exact_lengths=1,33", "exact_rows=2",
                           "head_dims=16", "batch_heads=1", "contexts=256", "min_reps=1", "max_reps=2", "seconds_per_point=0.01",
                           "max_kv_gib=0.001", "gpu_contexts=1024,524288"]

    @Test(.enabled(if: packageExecutable("leanattention") != nil, "leanattention not built"))
    func leanattentionDrawsItsInputsFromTheSeedsThatRan() throws {
        let runs = try temporaryDirectory("lean-seeds")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        var q: [UInt64: [Float]] = [:]
        for seed: UInt64 in [1, 7] {
            let r = try runToEnd(["run", "--runs", runs + "/s\(seed)", "--seeds", "\(seed)"] + Self.tinyLean,
                                 executable: packageExecutable("leanattention")!)
            try #require(r.status == 0, "\(r.log)")
            let dir = try onlyRunDir(runs + "/s\(seed)", paper: "leanattention")
            let f = try H5File.open(dir + "/leanattention.h5")
            q[seed] = try f.read("exactness/cases/2/q", as: Float.self).values   // case 2: N = 33, LeanTile tiles
            // The stored call can be recomputed: k and v beside it, outputs for every G and kernel.
            #expect(try f.shape(of: "exactness/cases/2/k") == [2, 33, 16])
            #expect(try f.shape(of: "exactness/cases/2/outputs") == [3, 3, 2, 16])
            // Every record names the seed that ran.
            #expect(try f.intsAttribute("seeds") == [Int64(seed)])
            let config = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
            #expect(config.contains("\"seeds\":[\(seed)]"), "\(config)")
            #expect(try String(contentsOfFile: dir + "/report.md", encoding: .utf8).contains("**seeds:** \(seed)"))
        }
        #expect(q[1] != q[7], "--seeds 7 drew the same inputs as seed 1")
    }

    @Test(.enabled(if: packageExecutable("leanattention") != nil, "leanattention not built"))
    func leanattentionRefusesSeveralSeedsInOneRun() throws {
        let runs = try temporaryDirectory("lean-two-seeds")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs, "--seeds", "1,2"] + Self.tinyLean, executable: packageExecutable("leanattention")!)
        #expect(r.status == 1 && r.log.contains("one seed per run"), "\(r.log)")
    }

    @Test(.enabled(if: packageExecutable("_template") != nil, "_template not built"))
    func templateRunsAndItsNumbersAreRecomputedFromHDF5() throws {
        let runs = try temporaryDirectory("template")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs, "--preset", "ci", "--threads", "2", "--seeds", "3"],
                             executable: packageExecutable("_template")!)
        try #require(r.status == 0, "\(r.log)")
        let dir = try onlyRunDir(runs, paper: "_template")
        for file in ["report.md", "report.html", "metrics.h5", "figures/test_mse.png", "seed-3/checkpoint.h5", "seed-3/data.h5"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file) missing")
        }
        let metrics = try readMetrics(dir + "/metrics.json")
        let mse = try #require(metrics["test_mse_final"])
        #expect(mse > 0.005 && mse < 0.02, "the fit did not reach the noise floor: \(mse)")
        if let python = numpyPython {
            let r = try runProcess(python, [packageRoot + "/papers/_template/reference/check_numpy.py", dir + "/seed-3"])
            #expect(r.status == 0 && r.output.contains("test MSE: ours"), "\(r.output)")
        }
    }

    /// Both of the Aaren paper's classifiers, trained briefly, loaded into the independent PyTorch
    /// model of papers/aaren/reference/check_pytorch.py: same hidden states, scan inputs and logits.
    @Test(.enabled(if: torchPython != nil && packageExecutable("aaren") != nil, "no torch python or no aaren binary"))
    func aarenModelsAgreeWithPyTorch() throws {
        let runs = try temporaryDirectory("aaren-torch")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs, "--preset", "ci", "--threads", "2", "--seeds", "1", "exact_lengths=1,33", "aaren_stream_tokens=256",
                              "transformer_stream_tokens=256", "probe_contexts=256", "vowels.max_iters=20", "co2.max_iters=2",
                              "co2_test_weeks=104", "co2_stride=52", "recall.max_iters=20"], executable: packageExecutable("aaren")!)
        try #require(r.status == 0, "\(r.log)")
        let dir = try onlyRunDir(runs, paper: "aaren")
        for kind in ["aaren", "transformer"] {
            let (status, text) = try runPyTorchCheck(paper: "aaren", dir + "/seed-1/vowels-\(kind)")
            #expect(status == 0, "\(kind): \(text)")
            #expect(text.contains("logits (16, 9)"), "\(kind): logits not compared:\n\(text)")
            if kind == "aaren" { #expect(text.contains("layers.1.scores"), "scan inputs not compared:\n\(text)") }
        }
    }

    /// A CHELA run small enough for a test: every section, all four models, a few updates.
    static let tinyChela = ["--preset", "ci", "--threads", "2", "--seeds", "1", "exact_lengths=1,33", "scaling_lengths=64,128",
                            "scaling_fit_from=64", "scaling_repeats=1", "listops.train=40", "listops.val=8", "listops.test=8",
                            "listops.max_length=120", "mqar.train=16", "mqar.test=4", "mqar.length=64", "mqar.pairs=4",
                            "listops_train.max_iters=6", "mqar_train.max_iters=2", "listops_train.batch_size=4", "mqar_train.batch_size=4"]

    /// All four CHELA-paper classifiers, trained briefly, loaded into the independent PyTorch model of
    /// papers/chela/reference/check_pytorch.py: same block outputs, CHELA streams, logits and merged logits.
    @Test(.enabled(if: torchPython != nil && packageExecutable("chela") != nil, "no torch python or no chela binary"))
    func chelaModelsAgreeWithPyTorch() throws {
        let runs = try temporaryDirectory("chela-torch")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs] + Self.tinyChela, executable: packageExecutable("chela")!)
        try #require(r.status == 0, "\(r.log)")
        let dir = try onlyRunDir(runs, paper: "chela")
        for kind in ["chela", "transformer", "linear", "longconv"] {
            let (status, text) = try runPyTorchCheck(paper: "chela", dir + "/seed-1/listops-\(kind)")
            #expect(status == 0, "\(kind): \(text)")
            #expect(text.contains("logits (8, 10)"), "\(kind): logits not compared:\n\(text)")
            if kind == "chela" { #expect(text.contains("blocks.1.q") && text.contains("logits_merged"), "streams not compared:\n\(text)") }
        }
    }

    /// Bad CHELA inputs: one clear error each, before anything is written; a damaged generated-data
    /// file found on resume is named, and the run stops without touching it.
    @Test(.enabled(if: packageExecutable("chela") != nil, "chela not built"))
    func chelaRefusesBadInput() throws {
        let runs = try temporaryDirectory("chela-bad")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let exe = packageExecutable("chela")!
        for (overrides, message) in [(["model.chunk_size=0"], "config key \"model.chunk_size\" = 0: must be at least 1"),
                                     (["mqar.length=48", "model.short_kernels=3,60"], "must be at most the shortest sequence (48 tokens)"),
                                     (["listops.max_length=5"], "must exceed min_length"),
                                     (["mqar.vocab=256", "mqar.pairs=40"], "must be at least 4·pairs"),
                                     (["model.feature_map=elu"], "cannot be \"elu\": must be one of \"identity\", \"silu\"")] {
            let r = try runToEnd(["run", "--runs", runs] + Self.tinyChela + overrides, executable: exe)
            #expect(r.status != 0 && r.log.contains(message), "\(overrides): \(r.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: runs + "/chela"), "a refused config left a run folder")
        // A run, its data file then truncated and its report removed (so the same command resumes
        // that folder instead of starting a new one): the resume names the file and stops.
        let ok = try runToEnd(["run", "--runs", runs] + Self.tinyChela, executable: exe)
        try #require(ok.status == 0, "\(ok.log)")
        let dir = try onlyRunDir(runs, paper: "chela")
        try FileManager.default.removeItem(atPath: dir + "/report.md")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/data/listops.h5"))
        try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: dir + "/data/listops.h5"))
        let again = try runToEnd(["run", "--runs", runs] + Self.tinyChela, executable: exe)
        #expect(again.status != 0 && again.log.contains("data/listops.h5 is damaged"), "\(again.log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/data/listops.h5")).count == data.count / 3, "the damaged file was rewritten")
    }

    /// A Block Transformer run small enough for a test: both models, one sweep point, a one-cell grid.
    static let tinyBlock = ["--preset", "ci", "--threads", "2", "--seeds", "1", "max_iters=6", "eval_windows=4", "sweep_block_lengths=4",
                            "throughput_batches=2", "throughput_contexts=64", "short_fraction=8", "small_batch=0", "checkpoint_interval=3"]

    /// The block model, trained briefly, loaded into the independent PyTorch model of
    /// papers/blocktransformer/reference/check_pytorch.py: same contexts, logits and loss; its own
    /// KV-cached greedy generation gives our tokens (block and vanilla) and agrees with its
    /// cache-free forward pass.
    @Test(.enabled(if: torchPython != nil && packageExecutable("blocktransformer") != nil, "no torch python or no blocktransformer binary"))
    func blockTransformerAgreesWithPyTorch() throws {
        let runs = try temporaryDirectory("block-torch")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let r = try runToEnd(["run", "--runs", runs] + Self.tinyBlock, executable: packageExecutable("blocktransformer")!)
        try #require(r.status == 0, "\(r.log)")
        let dir = try onlyRunDir(runs, paper: "blocktransformer")
        let (status, text) = try runPyTorchCheck(paper: "blocktransformer", dir + "/seed-1/block")
        #expect(status == 0, "\(text)")
        #expect(text.contains("logits (1, 15, 4, 65)") && text.contains("greedy"), "logits or generation not compared:\n\(text)")
    }

    /// Bad Block Transformer inputs: one clear error each, before anything is written; a
    /// truncated checkpoint found on resume is set aside and the previous one used.
    @Test(.enabled(if: packageExecutable("blocktransformer") != nil, "blocktransformer not built"))
    func blockTransformerRefusesBadInput() throws {
        let runs = try temporaryDirectory("block-bad")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let exe = packageExecutable("blocktransformer")!
        for (overrides, message) in [(["block.n_embd=130"], "must be a multiple of n_head (4) and of block_length (4)"),
                                     (["block.block_length=0"], "config key \"block.block_length\" = 0"),
                                     (["throughput_contexts=100"], "must be multiples of short_fraction × block_length (32)"),
                                     (["score_from=2"], "must be at least the largest block length (4)"),
                                     (["sweep_block_lengths=3"], "must divide block_size (64)"),
                                     (["block_size=4096"], "at most block.max_context (2048)")] {
            let r = try runToEnd(["run", "--runs", runs] + Self.tinyBlock + overrides, executable: exe)
            #expect(r.status != 0 && r.log.contains(message), "\(overrides): \(r.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: runs + "/blocktransformer"), "a refused config left a run folder")
        let ok = try runToEnd(["run", "--runs", runs] + Self.tinyBlock, executable: exe)
        try #require(ok.status == 0, "\(ok.log)")
        let dir = try onlyRunDir(runs, paper: "blocktransformer")
        try FileManager.default.removeItem(atPath: dir + "/report.md")
        let path = dir + "/seed-1/block/checkpoint.h5"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let again = try runToEnd(["run", "--runs", runs] + Self.tinyBlock, executable: exe)
        #expect(again.status == 0 && again.log.contains("warning:") && again.log.contains(path + ".damaged"), "\(again.log)")
        #expect(FileManager.default.fileExists(atPath: dir + "/report.md"))
    }

    /// A typo in a claim's metric is an error naming the claim and the nearest recorded metric, not a
    /// verdict quietly turned into "not measured".
    @Test(.enabled(if: packageExecutable("_template") != nil, "_template not built"))
    func aClaimsMetricTypoIsAnError() throws {
        let root = try temporaryDirectory("claims-typo")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/papers/_template", withIntermediateDirectories: true)
        let claims = try String(contentsOfFile: packageRoot + "/papers/_template/claims.json5", encoding: .utf8)
        try claims.replacingOccurrences(of: "metric: \"test_mse_final\"", with: "metric: \"test_mse_finl\"")
            .write(toFile: root + "/papers/_template/claims.json5", atomically: true, encoding: .utf8)
        let (status, log) = try runToEnd(["run", "--preset", "ci", "--runs", root + "/runs"],
                                         executable: packageExecutable("_template")!, root: root)
        #expect(status == 1, "\(log)")
        #expect(log.contains("claim \"ols.test-mse\" names metric \"test_mse_finl\"") && log.contains("did you mean \"test_mse_final\"?"), "\(log)")
    }

    /// Every paper's presets survive the JSON round trip that overrides and resumes rely on.
    @Test func everyPapersPresetsRoundTrip() throws {
        let papers = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/papers")
            .filter { FileManager.default.fileExists(atPath: "\(packageRoot)/papers/\($0)/main.swift") }
        for paper in papers {
            guard let exe = packageExecutable(paper) else { Issue.record("\(paper) not built"); continue }
            let r = try runProcess(exe, ["presets"])
            #expect(r.status == 0 && r.output.contains("\(paper) ci:"), "\(paper): \(r.output)")
        }
    }

    @Test(.enabled(if: nanogptExecutable != nil, "nanogpt not built"))
    func helpListsCommandsPresetsAndKeys() throws {
        let r = try runProcess(nanogptExecutable!, ["--help"])
        #expect(r.status == 0, "\(r.output)")
        for text in ["usage: nanogpt run", "ci:", "default:", "train.max_iters (a number): 2000", "model.n_layer (a number): 4",
                     "seeds (a comma-separated list): [1,2,3]"] {
            #expect(r.output.contains(text), "--help lacks \(text):\n\(r.output)")
        }
    }
}

/// Runs an executable to its end: exit status and stdout+stderr.
func runProcess(_ executable: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

import Foundation
import HDF5
import Reporting
import TensorCore

/// A paper's replication as the runner sees it: presets of one config type and a function that
/// runs the experiment into a `Run`. The seeds are the config's own (`PaperConfig.seeds`).
public struct Paper<Config: PaperConfig>: Sendable {
    public let name: String
    public let title: String
    /// Presets in display order; `ci` (seconds to ~2 minutes, gated by `make check`) and
    /// `default` (the real replication) are required.
    public let presets: [(name: String, config: Config, about: String)]
    public let run: @Sendable (Config, Run) throws -> Void

    public init(name: String, title: String, presets: [(name: String, config: Config, about: String)],
                run: @escaping @Sendable (Config, Run) throws -> Void) {
        self.name = name; self.title = title; self.presets = presets; self.run = run
    }
}

/// One invocation's output folder and what is measured in it.
///
/// Layout: `runs/<paper>/<preset>-<commit>[-dirty]-s<seeds>[-<overrides>-<hash>][-<n>]/` with
/// `config.json`, `metrics.json` (flat, means over seeds; what `make check` compares),
/// `metrics.h5` (every scalar and series, per seed), `seed-<s>/` (checkpoint.h5,
/// activations.h5), `figures/`, `report.md`, `report.html`. A finished run folder is never
/// reused: the next identical command gets a new one; an unfinished one is resumed.
public final class Run: @unchecked Sendable {
    public let paper: String
    public let preset: String
    public let dir: String
    public let root: String
    public let configJSON: String
    public let provenance: Provenance
    public let seeds: [UInt64]
    /// Scalars per seed, e.g. perSeed[seed]["val_loss_final"].
    public private(set) var perSeed: [UInt64: [String: Double]] = [:]
    /// Series per seed, written to metrics.h5 as /seed-<s>/<name> (plus an x-axis dataset).
    public private(set) var series: [(seed: UInt64?, name: String, x: [Double], y: [Double])] = []
    /// Scalars that do not depend on a seed (parameter counts, derived numbers).
    public private(set) var shared: [String: Double] = [:]
    /// Set when this run merges sweep tasks (`merge`): their configs, which every checkpoint
    /// copied from their folders was written with.
    var taskConfigs: Set<String>?
    /// In a merge: the per-seed timings the tasks measured (seed → metric → value). A merged
    /// run does not train, so its own clock would time checkpoint loading: a per-seed timing
    /// recorded here takes the task's value instead.
    var taskTimings: [UInt64: [String: Double]] = [:]
    let started = Date()

    init(paper: String, preset: String, dir: String, root: String, configJSON: String, provenance: Provenance) {
        self.paper = paper; self.preset = preset; self.dir = dir; self.root = root
        self.configJSON = configJSON; self.provenance = provenance; self.seeds = provenance.seeds
    }

    /// `seed-<s>/` or, for one of several models trained per seed, `seed-<s>/<part>/` (created).
    public func seedDir(_ seed: UInt64, part: String? = nil) throws -> String {
        let d = "\(dir)/seed-\(seed)" + (part.map { "/" + $0 } ?? "")
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// The checkpoint of seed `seed` (and model `part`), as the training loop wants it.
    public func checkpoint(seed: UInt64, part: String? = nil, model: String) throws -> CheckpointTarget {
        CheckpointTarget(path: try seedDir(seed, part: part) + "/checkpoint.h5", modelName: model, configJSON: configJSON,
                         provenance: provenance, taskConfigs: taskConfigs)
    }

    /// `activations.h5` of seed `seed` (and model `part`).
    public func activationsPath(seed: UInt64, part: String? = nil) throws -> String {
        try seedDir(seed, part: part) + "/activations.h5"
    }

    public var figuresDir: String {
        let d = dir + "/figures"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    public var paperDir: String { "\(root)/papers/\(paper)" }

    public func record(_ name: String, _ value: Double, seed: UInt64) {
        perSeed[seed, default: [:]][name] = isTimingMetric(name) ? (taskTimings[seed]?[name] ?? value) : value
    }
    public func record(_ name: String, _ value: Double) { shared[name] = value }
    public func recordSeries(_ name: String, x: [Double], y: [Double], seed: UInt64?) { series.append((seed, name, x, y)) }

    /// Measurements over seeds for every metric (shared ones count once).
    public var measurements: [String: MeasuredValues] {
        var m = MeasuredValues.collect(seeds.compactMap { perSeed[$0] })
        for (k, v) in shared { m[k] = MeasuredValues(values: [v]) }
        return m
    }

    /// The flat metrics `make check` compares: the mean over seeds of each scalar.
    public var flatMetrics: [String: Double] { measurements.mapValues(\.mean) }

    /// Write metrics.json and metrics.h5 (atomically).
    public func writeMetrics() throws {
        try writeMetrics(flatMetrics, to: dir + "/metrics.json")
        try H5File.writeAtomically(to: dir + "/metrics.h5") { f in
            try f.setAttribute("kind", .string("metrics"))
            try f.setAttribute("paper", .string(paper))
            try f.setAttribute("preset", .string(preset))
            try f.setAttribute("config", .string(configJSON))
            try provenance.attach(to: f)
            for (name, m) in measurements.sorted(by: { $0.key < $1.key }) {
                try f.write("scalars/\(name)", m.values, shape: [m.values.count])
                try f.setAttribute("mean", .double(m.mean), on: "scalars/\(name)")
                if let s = m.std { try f.setAttribute("std", .double(s), on: "scalars/\(name)") }
            }
            for s in series {
                let g = s.seed.map { "seed-\($0)" } ?? "shared"
                try f.write("series/\(g)/\(s.name)", s.y, shape: [s.y.count])
                try f.write("series/\(g)/\(s.name)_x", s.x, shape: [s.x.count])
            }
        }
    }

    private func writeMetrics(_ m: [String: Double], to path: String) throws { try Reporting.writeMetrics(m, to: path) }

    /// Judge the paper's claims against this run and write report.md and report.html.
    public func writeReport(figures: [ReportFigure], deviations: [String], sections: [ReportSection] = [],
                            scale: String) throws {
        let claims = try ClaimsFile.load(paperDir + "/claims.json5")
        // A claim naming a metric this run did not record is "not measured" (a subset run, another
        // scale), unless its name is a likely typo of a recorded one: then it is an error, never a
        // verdict quietly lost. Names are compared by family, the part before the first dot: a
        // missing `ratio.bh3` beside a recorded `ratio.bh1` is a variant this run skipped, not a typo.
        // The metrics are already written; fix the claim and rerun to resume.
        func family(_ name: String) -> String { String(name.split(separator: ".", maxSplits: 1).first ?? "") }
        let families = Set(measurements.keys.map(family))
        for claim in claims.claims where measurements[claim.metric] == nil && !families.contains(family(claim.metric)) {
            let hint = suggestion(for: family(claim.metric), among: Array(families))
            if !hint.isEmpty {
                throw ReplicateError("\(paperDir)/claims.json5: claim \"\(claim.id)\" names metric \"\(claim.metric)\", which this run "
                    + "did not record\(hint)")
            }
        }
        let header: [(key: String, value: String)] = [
            ("paper", "\(paper) — \(claims.paper.title)"), ("preset", preset),
            ("commit", provenance.gitCommit + (provenance.gitDirty ? " (uncommitted changes)" : "")),
            ("seeds", seeds.map(String.init).joined(separator: ", ")), ("threads", "\(provenance.threads)"),
            ("machine", provenance.cpu), ("BLAS", provenance.blas), ("Swift", provenance.swiftVersion),
            ("date", provenance.date), ("wall time", duration(Date().timeIntervalSince(started))),
            ("config", configJSON),
        ]
        let report = Report(claims: claims, measured: measurements, runScale: scale, header: header,
                            figures: figures, deviations: deviations, sections: sections)
        try report.write(to: dir)
        log(report.summaryLine)
    }
}

/// The command line every paper executable shares:
///
///     <paper> run [--preset P] [--seeds 1,2] [--threads N] [--runs DIR] [key=value ...]
///     <paper> presets                    list presets and their configs
///     <paper> check [--baseline FILE]    run the ci preset, compare with expected/ci.json
///     <paper> bless                      run the ci preset, rewrite expected/ci.json
///     <paper> compare RUN_DIR [--baseline FILE]
///     <paper> sweep [--preset P] [--seeds 1-10] [--grid "k=a,b ..."] [--submit 0] [key=value ...]
///     <paper> merge SWEEP_DIR | RUN_DIR... [--partial 1]
public func runMain<C: PaperConfig>(_ paper: Paper<C>) -> Never {
    do {
        try dispatch(paper, Array(CommandLine.arguments.dropFirst()))
        exit(0)
    } catch {
        log("error: \(error)")
        exit(1)
    }
}

func dispatch<C: PaperConfig>(_ paper: Paper<C>, _ args: [String]) throws {
    let root = ProcessInfo.processInfo.environment["REPLICATE_ROOT"] ?? FileManager.default.currentDirectoryPath
    if args.contains("--help") || args.contains("-h") || args.first == "help" {
        print(try usage(paper))
        return
    }
    var rest = args
    let command = rest.isEmpty ? "run" : rest.removeFirst()
    var options: [String: String] = [:], overrides: [String] = [], positional: [String] = []
    while !rest.isEmpty {
        let a = rest.removeFirst()
        if a.hasPrefix("--") {
            guard !rest.isEmpty else { throw ReplicateError("option \(a) needs a value") }
            options[String(a.dropFirst(2))] = rest.removeFirst()
        } else if a.contains("=") && !(command == "merge" && FileManager.default.fileExists(atPath: a)) {
            overrides.append(a)   // a run folder's name holds its overrides: merge's folders are paths first
        } else { positional.append(a) }
    }
    let known: Set = ["preset", "seeds", "threads", "runs", "baseline", "finished", "grid", "submit", "cpus", "time", "mem", "partial"]
    if let bad = options.keys.first(where: { !known.contains($0) }) {
        throw ReplicateError("unknown option --\(bad); options: \(known.sorted().map { "--" + $0 }.joined(separator: " "))")
    }
    if let t = options["threads"] {
        guard let n = Int(t), n > 0 else { throw ReplicateError("--threads takes a positive integer, got \(t)") }
        Parallel.setThreads(n)
    }
    // Baselines are blessed and checked at 2 threads (CI's core count): the chunking of every
    // parallel reduction, and so the last bits of the metrics, depend on the thread count.
    if (command == "check" || command == "bless") && options["threads"] == nil { Parallel.setThreads(2) }
    let baselinePath = options["baseline"] ?? "\(root)/papers/\(paper.name)/expected/ci.json"
    switch command {
    case "presets":
        for p in paper.presets { try checkRoundTrip(p.config, preset: p.name) }
        for p in paper.presets { print("\(paper.name) \(p.name): \(p.about)\n    \(canonicalJSON(p.config))") }
    case "run":
        guard ["new", "skip"].contains(options["finished"] ?? "new") else {
            throw ReplicateError("--finished takes new (a finished folder is never reused: start another) or skip (return it), got \(options["finished"]!)")
        }
        let dir = try execute(paper, preset: options["preset"] ?? "default", overrides: overrides, seeds: options["seeds"],
                              runsDir: options["runs"], root: root, skipFinished: options["finished"] == "skip")
        print(dir)
    case "sweep":
        try sweep(paper, preset: options["preset"] ?? "default", overrides: overrides, options: options, root: root)
    case "merge":
        guard !positional.isEmpty else { throw ReplicateError("merge needs a sweep folder or run folders") }
        guard overrides.isEmpty else {
            throw ReplicateError("merge takes folders, not overrides (\(overrides.joined(separator: " "))): the tasks' configs are merged as they ran; no such folder?")
        }
        for dir in try merge(paper, positional, partial: (options["partial"] ?? "0") != "0", runsDir: options["runs"], root: root) {
            print(dir)
        }
    case "validate":
        // The config a `run` with these arguments would use, checked, printed; no run folder.
        let config = try resolveConfig(paper, preset: options["preset"] ?? "default", overrides: overrides, seeds: options["seeds"], root: root)
        print(canonicalJSON(config))
    case "check", "bless":
        let dir = try execute(paper, preset: "ci", overrides: overrides, seeds: nil, runsDir: options["runs"], root: root)
        let obtained = try readMetrics(dir + "/metrics.json")
        if command == "bless" {
            let previous = FileManager.default.fileExists(atPath: baselinePath) ? try Baseline.load(baselinePath) : nil
            let b = try bless(obtained: obtained, previous: previous, defaults: Tolerance(atol: 1e-6, rtol: 1e-3),
                              paper: paper.name, preset: "ci")
            try FileManager.default.createDirectory(atPath: (baselinePath as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try b.write(to: baselinePath)
            print("blessed \(baselinePath) from \(dir)")
        } else {
            try compare(dir: dir, baselinePath: baselinePath)
        }
    case "compare":
        guard let dir = positional.first else { throw ReplicateError("compare needs a run directory") }
        try compare(dir: dir, baselinePath: baselinePath)
    default:
        throw ReplicateError("unknown command \"\(command)\"; commands: run, validate, presets, check, bless, compare, sweep, merge")
    }
}

/// A config must decode from the JSON it encodes to: overrides, config.json and resumes rely on
/// it. Swift's snake_case conversion does not round-trip a name with two capitals in a row
/// (`dFF` → `d_ff` → `dFf`), which would make every override fail with a misleading message.
func checkRoundTrip<C: Codable>(_ config: C, preset: String) throws {
    do { _ = try configDecoder().decode(C.self, from: configEncoder().encode(config)) } catch {
        throw ReplicateError("preset \"\(preset)\": the config does not decode from its own JSON (\(error)); "
            + "a property named with two capitals in a row (dFF) breaks the snake_case round trip: rename it (ffWidth)")
    }
}

/// What `<paper> --help` prints: commands, options, presets, and every config key with its kind
/// and its value in the default preset.
func usage<C: PaperConfig>(_ paper: Paper<C>) throws -> String {
    var lines = ["\(paper.name): \(paper.title)", "",
                 "usage: \(paper.name) run [--preset P] [--seeds 1,2] [--threads N] [--runs DIR] [key=value ...]",
                 "       \(paper.name) validate [--preset P] [--seeds 1,2] [key=value ...]   (print the resolved config; nothing runs)",
                 "       \(paper.name) presets | check [--baseline FILE] | bless | compare RUN_DIR [--baseline FILE] | --help",
                 "       \(paper.name) sweep [--preset P] [--seeds 1-10] [--grid \"key=a,b ...\"] [--cpus N] [--time MIN] [--mem MB] [--submit 0] [key=value ...]",
                 "       \(paper.name) merge SWEEP_DIR | RUN_DIR... [--partial 1]   (join finished sweep tasks into one run and report)",
                 "", "presets:"]
    for p in paper.presets { lines.append("  \(p.name): \(p.about)") }
    lines += ["", "config keys (key=value; a key shared by two groups takes its path, e.g. train.max_iters), default preset's values:"]
    let base = paper.presets.first { $0.name == "default" }?.config ?? paper.presets[0].config
    guard case .object(let root) = try JSONDecoder().decode(JSONValue.self, from: configEncoder().encode(base)) else { return "" }
    for leaf in leafPaths(root) {
        let value = String(decoding: try JSONEncoder().encode(leaf.value), as: UTF8.self)
        lines.append("  \(leaf.path.joined(separator: ".")) (\(leaf.value.kind)): \(value)")
    }
    return lines.joined(separator: "\n")
}

/// Compare a run's metrics.json with a blessed baseline; throws (exit 1) with the table on failure.
public func compare(dir: String, baselinePath: String) throws {
    guard FileManager.default.fileExists(atPath: baselinePath) else {
        throw ReplicateError("no baseline \(baselinePath); create it with `make bless PAPER=...`")
    }
    let result = checkBaseline(obtained: try readMetrics(dir + "/metrics.json"), baseline: try Baseline.load(baselinePath))
    print(result.table)
    guard result.passed else {
        throw ReplicateError("\(dir): metrics differ from \(baselinePath) beyond tolerance")
    }
}

extension Paper {
    /// The preset named `name`, or an error listing the presets.
    func preset(_ name: String) throws -> (name: String, config: Config, about: String) {
        guard let p = presets.first(where: { $0.name == name }) else {
            throw ReplicateError("unknown preset \"\(name)\" for \(self.name); presets: \(presets.map(\.name).joined(separator: ", "))")
        }
        return p
    }
}

/// The config a command line asks for: the preset, the overrides, --seeds, validated, with the
/// paper's claims file checked too. Nothing is written.
func resolveConfig<C: PaperConfig>(_ paper: Paper<C>, preset: String, overrides: [String], seeds seedList: String?,
                                   root: String) throws -> C {
    let base = try paper.preset(preset)
    try checkRoundTrip(base.config, preset: preset)
    var config = try applyOverrides(overrides, to: base.config)
    // --seeds sets the config's seeds, so the config a run records is the one it ran.
    if let seedList {
        config.seeds = try seedList.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let s = UInt64($0) else { throw ReplicateError("--seeds takes comma-separated integers, got \(seedList)") }
            return s
        }
    }
    let seeds = config.seeds
    guard !seeds.isEmpty else { throw ReplicateError("no seeds to run: give --seeds or seeds=1,2,...") }
    guard Set(seeds).count == seeds.count else { throw ReplicateError("seeds \(seeds) repeat a seed") }
    try config.validate()
    // A bad claims file is found now, not after the run it would have judged.
    let claimsPath = "\(root)/papers/\(paper.name)/claims.json5"
    if FileManager.default.fileExists(atPath: claimsPath) { _ = try ClaimsFile.load(claimsPath) }
    return config
}

/// The run folder's name: preset, commit, seeds, and for a run that is not the preset as it
/// stands, the overrides (shortened) and a hash of the config, so a sweep task's folder says
/// which part of the work it holds.
func runName(preset: String, commit: String, seeds: [UInt64], overrides: [String], seedListGiven: Bool, configJSON: String) -> String {
    var name = "\(preset)-\(commit)-s\(seedRangeText(seeds, separator: "_"))"
    if !overrides.isEmpty || seedListGiven {
        let slug = String(overrides.joined(separator: "_").map { $0.isLetter || $0.isNumber || "._=,-".contains($0) ? $0 : "_" }.prefix(48))
        name += (slug.isEmpty ? "" : "-" + slug) + "-" + String(sha256Hex(Array((configJSON + "\(seeds)").utf8)).prefix(8))
    }
    return name
}

/// Seeds as ranges: [1, 2, 3, 5] → "1-3,5" (with `separator` in place of the comma).
func seedRangeText(_ seeds: [UInt64], separator: String = ",") -> String {
    var parts: [String] = [], i = 0
    while i < seeds.count {
        var j = i
        while j + 1 < seeds.count && seeds[j + 1] == seeds[j] + 1 { j += 1 }
        parts.append(j >= i + 2 ? "\(seeds[i])-\(seeds[j])" : (i...j).map { "\(seeds[$0])" }.joined(separator: separator))
        i = j + 1
    }
    return parts.joined(separator: separator)
}

/// Resolve the config, find or create the run folder, run the paper, write metrics. With
/// `skipFinished`, a finished folder of the same name is returned as it is (a sweep task that
/// already ran); `merging` copies finished sweep tasks' checkpoints in first (see `merge`).
func execute<C: PaperConfig>(_ paper: Paper<C>, preset: String, overrides: [String], seeds seedList: String?,
                             runsDir: String?, root: String, skipFinished: Bool = false, merging: [TaskFolder] = [],
                             config given: C? = nil) throws -> String {
    let config: C
    if let given {
        try given.validate()
        config = given
    } else {
        config = try resolveConfig(paper, preset: preset, overrides: overrides, seeds: seedList, root: root)
    }
    let seeds = config.seeds
    let configJSON = canonicalJSON(config)
    let provenance = Provenance.current(seeds: seeds, threads: Parallel.threads, root: root)
    let name = runName(preset: preset, commit: provenance.shortCommit, seeds: seeds, overrides: overrides,
                       seedListGiven: seedList != nil, configJSON: configJSON)
    let parent = (runsDir ?? "\(root)/runs") + "/\(paper.name)"
    // Resume the newest unfinished folder of this name (same config); never touch a finished one.
    var dir = "\(parent)/\(name)", n = 1, finished: String?
    while FileManager.default.fileExists(atPath: dir + "/report.md") {
        finished = dir
        n += 1
        dir = "\(parent)/\(name)-\(n)"
    }
    if skipFinished, let finished {
        log("\(finished) is finished: nothing to do")
        return finished
    }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let lock = try RunFolderLock(dir)
    defer { withExtendedLifetime(lock) {} }
    guard !FileManager.default.fileExists(atPath: dir + "/report.md") else {
        throw ReplicateError("\(dir) was finished by another run just now; run the command again for a new folder")
    }
    let configPath = dir + "/config.json"
    if let old = try? String(contentsOfFile: configPath, encoding: .utf8), old != configJSON {
        throw ReplicateError("\(dir) holds an unfinished run with another config; remove it or pass --runs DIR")
    }
    try replaceAtomically(configPath) { try configJSON.write(toFile: $0, atomically: false, encoding: .utf8) }
    log("\(paper.name) [\(preset)] → \(dir)  (threads \(Parallel.threads), seeds \(seeds.map(String.init).joined(separator: ",")))")
    let run = Run(paper: paper.name, preset: preset, dir: dir, root: root, configJSON: configJSON, provenance: provenance)
    if !merging.isEmpty {
        try copyCheckpoints(from: merging, to: dir)
        run.taskConfigs = Set(merging.map(\.configJSON))
        run.taskTimings = try taskTimings(merging)
    }
    try paper.run(config, run)
    try run.writeMetrics()
    return dir
}

/// One writer per run folder: an advisory `flock` on `<dir>/.lock`, held until the process ends
/// (the kernel drops it when the process dies, so a killed run never leaves a lock behind). The
/// file holds the writer's pid, for the message a second writer gets.
final class RunFolderLock {
    private let fd: Int32

    init(_ dir: String) throws {
        let path = dir + "/.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ReplicateError("\(path): cannot open the run folder's lock (errno \(errno))") }
        let previous = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ReplicateError("\(dir) is in use by another run (pid \(previous.isEmpty ? "unknown" : previous)); "
                + "wait for it to finish, or pass --runs DIR for a separate folder")
        }
        if let pid = Int32(previous), pid != getpid() {
            log("\(dir): taking over from pid \(pid), which no longer holds the folder (it ended or was killed)")
        }
        ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

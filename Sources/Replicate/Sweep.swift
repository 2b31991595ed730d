import Foundation
import HDF5
import Reporting

// Sweeps beyond one machine. `sweep` turns (preset × seeds × grid of overrides) into tasks, one
// run folder each, and writes them as a Slurm job array; `merge` joins the finished task folders
// into the run folder one process running every seed would have written: it copies the tasks'
// finished checkpoints into a new run of the union of their seeds (and of their list-valued grid
// keys, such as Hilsenbek's `variants`) and runs the paper there. Training finds every checkpoint
// finished and returns its history; evaluation, metrics, figures and the report are computed
// exactly as in one process, so the merged metrics are the one-process metrics bit for bit
// (same build, same thread count). A merge never trains.

/// One array task: its seeds and its overrides (the sweep's fixed ones, then the grid point).
struct SweepTask: Codable, Equatable {
    var index: Int
    var seeds: [UInt64]
    var overrides: [String]
}

/// One swept key and its values, in the order given.
struct GridAxis: Codable, Equatable {
    var key: String
    var values: [String]
    /// The config value at this key is a list (e.g. `variants`): tasks split it, a merge joins it.
    var isList: Bool
}

/// `sweep.json`, the sweep folder's manifest: what `merge` expects to find.
struct SweepManifest: Codable {
    var paper: String
    var preset: String
    var commit: String
    var threads: Int
    var overrides: [String]
    var grid: [GridAxis]
    var tasks: [SweepTask]
}

/// A finished task's run folder, as `merge` found it.
struct TaskFolder {
    var dir: String
    var configJSON: String
    var seeds: [UInt64]
}

/// "1-3,7" → [1, 2, 3, 7].
func parseSeeds(_ text: String) throws -> [UInt64] {
    var seeds: [UInt64] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        switch (ends.count, ends.first ?? nil, ends.last ?? nil) {
        case (1, let a?, _): seeds.append(a)
        case (2, let a?, let b?) where a <= b && b - a < 100_000: seeds += Array(a...b)
        default: throw ReplicateError("seeds take integers and ranges like 1-10,12; got \"\(text)\"")
        }
    }
    guard Set(seeds).count == seeds.count else { throw ReplicateError("seeds \"\(text)\" repeat a seed") }
    return seeds
}

/// "a=1,2 b=x,y" → axes a and b (a value list splits on commas; axes on spaces).
func parseGrid(_ text: String) throws -> [(key: String, values: [String])] {
    try text.split(whereSeparator: \.isWhitespace).map { item in
        let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
        let values = kv.count == 2 ? kv[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
        guard kv.count == 2, !kv[0].isEmpty, !values.isEmpty, !values.contains("") else {
            throw ReplicateError("--grid takes space-separated key=v1,v2 items, got \"\(item)\"")
        }
        guard Set(values).count == values.count else { throw ReplicateError("--grid \(kv[0]) repeats a value: \(kv[1])") }
        return (kv[0], values)
    }
}

/// A word for a POSIX shell: single-quoted unless it is plainly safe.
func shellQuoted(_ s: String) -> String {
    if !s.isEmpty && s.allSatisfy({ $0.isLetter || $0.isNumber || "._=,-/:+@".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Minutes a preset takes on 2 cores, read from its description's "~N min" / "~N s" (every
/// preset says it), or nil.
func statedMinutes(_ about: String) -> Double? {
    guard let r = about.range(of: #"~\s*[0-9.]+\s*(min|s)\b"#, options: .regularExpression) else { return nil }
    let text = about[r].dropFirst().trimmingCharacters(in: .whitespaces)
    let number = Double(text.prefix { $0.isNumber || $0 == "." }) ?? 0
    return text.hasSuffix("min") ? number : number / 60
}

/// GiB a preset needs, from its description's "N GiB" (the data it holds), or nil.
func statedGiB(_ about: String) -> Double? {
    guard let r = about.range(of: #"[0-9.]+\s*GiB"#, options: .regularExpression) else { return nil }
    return Double(about[r].prefix { $0.isNumber || $0 == "." })
}

func sweep<C: PaperConfig>(_ paper: Paper<C>, preset: String, overrides: [String], options: [String: String], root: String) throws {
    let base = try paper.preset(preset)
    let seeds = try options["seeds"].map(parseSeeds) ?? base.config.seeds
    guard !seeds.isEmpty else { throw ReplicateError("no seeds to sweep") }
    func positive(_ key: String, _ fallback: Int) throws -> Int {
        guard let text = options[key] else { return fallback }
        guard let n = Int(text), n > 0 else { throw ReplicateError("--\(key) takes a positive integer, got \(text)") }
        return n
    }
    let cpus = try positive("cpus", 2)
    guard let submit = ["0": false, "1": true][options["submit"] ?? "1"] else {
        throw ReplicateError("--submit takes 0 (only write the script) or 1, got \(options["submit"]!)")
    }
    // The grid's axes: which keys exist, and which are lists (split by tasks, joined by merge).
    let presetJSON = try JSONDecoder().decode(JSONValue.self, from: configEncoder().encode(base.config))
    guard case .object(let presetRoot) = presetJSON else { throw ReplicateError("config is not a JSON object") }
    let leaves = leafPaths(presetRoot)
    let grid = try parseGrid(options["grid"] ?? "").map { axis -> GridAxis in
        let matches = leaves.filter { $0.path.joined(separator: ".") == axis.key || $0.path.last == axis.key }
        guard let leaf = matches.first else { throw ReplicateError("--grid: no config key \"\(axis.key)\" (see --help)") }
        if case .array = leaf.value { return GridAxis(key: axis.key, values: axis.values, isList: true) }
        return GridAxis(key: axis.key, values: axis.values, isList: false)
    }
    guard Set(grid.map(\.key)).count == grid.count else { throw ReplicateError("--grid names a key twice") }
    if let fixed = overrides.first(where: { o in grid.contains { o.hasPrefix($0.key + "=") } }) {
        throw ReplicateError("\(fixed) is both an override and a --grid axis")
    }
    var points: [[String]] = [[]]
    for axis in grid { points = points.flatMap { p in axis.values.map { p + ["\(axis.key)=\($0)"] } } }
    var tasks: [SweepTask] = []
    for point in points {
        for seed in seeds {
            let task = SweepTask(index: tasks.count + 1, seeds: [seed], overrides: overrides + point)
            // Every task's config is checked now, not on the cluster.
            _ = try resolveConfig(paper, preset: preset, overrides: task.overrides, seeds: "\(seed)", root: root)
            tasks.append(task)
        }
    }
    let provenance = Provenance.current(seeds: seeds, threads: cpus, root: root)
    let manifest = SweepManifest(paper: paper.name, preset: preset, commit: provenance.gitCommit, threads: cpus,
                                 overrides: overrides, grid: grid, tasks: tasks)
    let manifestJSON = String(decoding: try configEncoder().encode(manifest), as: UTF8.self)
    let id = String(sha256Hex(Array(manifestJSON.utf8)).prefix(8))
    let dir = (options["runs"] ?? "\(root)/runs") + "/\(paper.name)/sweep-\(preset)-\(provenance.shortCommit)-\(id)"
    try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
    try replaceAtomically(dir + "/sweep.json") { try manifestJSON.write(toFile: $0, atomically: false, encoding: .utf8) }

    // Limits: the preset's stated time per seed (on 2 cores) × 3 for a slower node, at least 10 min.
    let perSeed = statedMinutes(base.about).map { $0 / Double(max(base.config.seeds.count, 1)) }
    let minutes = try positive("time", max(10, Int((3 * (perSeed ?? 40)).rounded(.up))))
    // Memory: what the preset says it holds plus a quarter and 1 GiB for the process, else 4 GiB.
    let memory = try positive("mem", statedGiB(base.about).map { Int(($0 * 1.25 + 1) * 1024) } ?? 4096)
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    let binaryPath = binary.hasPrefix("/") ? binary : FileManager.default.currentDirectoryPath + "/" + binary
    var script = """
    #!/usr/bin/env bash
    # \(paper.name) sweep: preset \(preset), \(tasks.count) tasks (\(points.count) grid point\(points.count == 1 ? "" : "s") × \(seeds.count) seed\(seeds.count == 1 ? "" : "s")), commit \(provenance.shortCommit).
    # Written by `\(paper.name) sweep`; merge the finished tasks with `\(paper.name) merge \(dir)`.
    #SBATCH --job-name=replicate-\(paper.name)-\(preset)
    #SBATCH --array=1-\(tasks.count)
    #SBATCH --cpus-per-task=\(cpus)
    #SBATCH --ntasks=1
    #SBATCH --time=\(minutes / 60):\(String(format: "%02d", minutes % 60)):00
    #SBATCH --mem=\(memory)M
    #SBATCH --output=\(dir)/logs/task-%a.out
    #SBATCH --error=\(dir)/logs/task-%a.err
    #SBATCH --open-mode=append
    #SBATCH --requeue
    # A task killed or requeued midway starts again and resumes its run folder from its last
    # checkpoint; a finished task (report.md written) returns at once.
    set -euo pipefail
    export REPLICATE_ROOT=\(shellQuoted(root))
    cd "$REPLICATE_ROOT"
    case "${SLURM_ARRAY_TASK_ID:?not a Slurm array task}" in

    """
    for t in tasks {
        script += "  \(t.index)) set -- --seeds \(t.seeds.map(String.init).joined(separator: ","))"
            + t.overrides.map { " " + shellQuoted($0) }.joined() + " ;;\n"
    }
    script += """
      *) echo "no task $SLURM_ARRAY_TASK_ID in this sweep" >&2; exit 2 ;;
    esac
    exec \(shellQuoted(binaryPath)) run --preset \(shellQuoted(preset)) --threads \(cpus) --runs \(shellQuoted(dir + "/tasks")) --finished skip "$@"

    """
    let scriptPath = dir + "/sweep.sbatch"
    try replaceAtomically(scriptPath) { try script.write(toFile: $0, atomically: false, encoding: .utf8) }
    chmod(scriptPath, 0o755)
    print("wrote \(scriptPath): \(tasks.count) tasks, \(cpus) CPUs, \(minutes) min and \(memory) MB each"
        + (perSeed == nil ? " (the preset states no time: 2 h assumed; pass --time MIN)" : ""))
    guard submit, let sbatch = findOnPath("sbatch") else {
        print(submit ? "sbatch is not on the PATH: submit it with `sbatch \(scriptPath)`" : "submit it with `sbatch \(scriptPath)`")
        return
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: sbatch)
    p.arguments = ["--parsable", scriptPath]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw ReplicateError("sbatch \(scriptPath) failed: \(problem)") }
    let job = text.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? text
    print("submitted job \(job)")
}

func findOnPath(_ name: String) -> String? {
    for d in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") {
        return "\(d)/\(name)"
    }
    return nil
}

/// The provenance a finished task folder recorded in its metrics.h5: commit, dirty, threads.
func taskProvenance(_ dir: String) throws -> (commit: String, dirty: Bool, threads: Int) {
    do {
        let f = try H5File.open(dir + "/metrics.h5")
        return (try f.stringAttribute("git_commit"), try f.intAttribute("git_dirty") != 0, Int(try f.intAttribute("threads")))
    } catch {
        throw ReplicateError("\(dir)/metrics.h5: cannot read the task's provenance (\(error))")
    }
}

/// Joins finished sweep tasks: a sweep folder (its sweep.json says which tasks to expect) or
/// run folders of one config that differ only in their seeds. Returns the merged run folders,
/// one per point of the grid's non-list keys.
func merge<C: PaperConfig>(_ paper: Paper<C>, _ paths: [String], partial: Bool, runsDir: String?, root: String) throws -> [String] {
    let fm = FileManager.default
    func finishedRuns(in parent: String) -> [String] {
        ((try? fm.contentsOfDirectory(atPath: parent)) ?? []).sorted().map { parent + "/" + $0 }
            .filter { fm.fileExists(atPath: $0 + "/config.json") }
    }
    func config(of dir: String) throws -> String {
        do { return try String(contentsOfFile: dir + "/config.json", encoding: .utf8) } catch {
            throw ReplicateError("\(dir)/config.json: cannot read (\(error))")
        }
    }
    // (merged overrides, seeds, the task folders) per merged run.
    var groups: [(overrides: [String], preset: String, seeds: [UInt64], folders: [TaskFolder], config: C?)] = []
    var expectedCommit: String?
    if paths.count == 1, fm.fileExists(atPath: paths[0] + "/sweep.json") {
        let sweepDir = paths[0]
        let manifest: SweepManifest
        do { manifest = try configDecoder().decode(SweepManifest.self, from: Data(contentsOf: URL(fileURLWithPath: sweepDir + "/sweep.json"))) } catch {
            throw ReplicateError("\(sweepDir)/sweep.json: not a sweep manifest (\(error))")
        }
        guard manifest.paper == paper.name else { throw ReplicateError("\(sweepDir) is a sweep of \(manifest.paper), not \(paper.name)") }
        expectedCommit = manifest.commit
        Parallel.setThreads(manifest.threads)
        let found = try finishedRuns(in: sweepDir + "/tasks/\(paper.name)").map { (dir: $0, config: try config(of: $0)) }
        var missing: [String] = []
        // Scalar axes make separate runs; list axes are joined within a run.
        let scalarKeys = Set(manifest.grid.filter { !$0.isList }.map(\.key))
        // Per point of the scalar axes: the finished tasks and their folders.
        var byPoint: [[String]: [(task: SweepTask, folder: TaskFolder)]] = [:], order: [[String]] = []
        for task in manifest.tasks {
            let c = try resolveConfig(paper, preset: manifest.preset, overrides: task.overrides,
                                      seeds: task.seeds.map(String.init).joined(separator: ","), root: root)
            let json = canonicalJSON(c)
            let point = task.overrides.filter { o in scalarKeys.contains { o.hasPrefix($0 + "=") } }
            if byPoint[point] == nil { order.append(point); byPoint[point] = [] }
            guard let dir = found.first(where: { $0.config == json && fm.fileExists(atPath: $0.dir + "/report.md") })?.dir else {
                let started = found.first { $0.config == json }.map { "unfinished in \($0.dir)" } ?? "no folder"
                missing.append("task \(task.index) (--seeds \(task.seeds.map(String.init).joined(separator: ","))\(task.overrides.map { " " + $0 }.joined())): \(started)")
                continue
            }
            byPoint[point]!.append((task, TaskFolder(dir: dir, configJSON: json, seeds: task.seeds)))
        }
        if !missing.isEmpty {
            let list = missing.map { "  " + $0 }.joined(separator: "\n")
            guard partial else {
                throw ReplicateError("\(missing.count) of \(manifest.tasks.count) tasks are not finished:\n\(list)\n"
                    + "wait for them (or resubmit the sweep: finished tasks are skipped), or pass --partial 1 to merge what exists")
            }
            log("merging without \(missing.count) unfinished tasks:\n\(list)")
        }
        for point in order {
            let finished = byPoint[point]!
            guard !finished.isEmpty else { continue }
            var merged = manifest.overrides + point
            for axis in manifest.grid where axis.isList {
                // The union of the values the finished tasks ran, in the grid's order.
                let ran = axis.values.filter { v in finished.contains { $0.task.overrides.contains("\(axis.key)=\(v)") } }
                if !ran.isEmpty { merged.append("\(axis.key)=\(ran.joined(separator: ","))") }
            }
            groups.append((merged, manifest.preset, Set(finished.flatMap(\.task.seeds)).sorted(), finished.map(\.folder), nil))
        }
    } else {
        // Run folders given one by one (or a folder of them): one config, seeds joined.
        var dirs: [String] = []
        for p in paths {
            if fm.fileExists(atPath: p + "/config.json") { dirs.append(p) } else if !finishedRuns(in: p).isEmpty { dirs += finishedRuns(in: p) } else {
                throw ReplicateError("\(p): neither a sweep folder (sweep.json) nor a run folder (config.json)")
            }
        }
        let unfinished = dirs.filter { !fm.fileExists(atPath: $0 + "/report.md") }
        if !unfinished.isEmpty {
            let list = unfinished.map { "  " + $0 }.joined(separator: "\n")
            guard partial else { throw ReplicateError("\(unfinished.count) run folders are not finished:\n\(list)\npass --partial 1 to merge the others") }
            log("merging without \(unfinished.count) unfinished run folders:\n\(list)")
        }
        var folders: [TaskFolder] = [], reference: (dir: String, json: String, config: C)?
        var preset: String?
        for dir in dirs where !unfinished.contains(dir) {
            let json = try config(of: dir)
            var c: C
            do { c = try configDecoder().decode(C.self, from: Data(json.utf8)) } catch {
                throw ReplicateError("\(dir)/config.json: not a \(paper.name) config (\(error))")
            }
            let seeds = c.seeds
            c.seeds = []
            let shape = canonicalJSON(c)
            if let reference, reference.json != shape {
                throw ReplicateError("\(dir) and \(reference.dir) ran different configs (beyond their seeds): merge one config at a time")
            }
            reference = reference ?? (dir, shape, c)
            guard let name = URL(fileURLWithPath: dir).lastPathComponent.split(separator: "-").first.map(String.init),
                  paper.presets.contains(where: { $0.name == name }) else {
                throw ReplicateError("\(dir): the folder name does not start with a preset of \(paper.name)")
            }
            if let preset, preset != name { throw ReplicateError("\(dir) ran preset \(name), the others \(preset)") }
            preset = name
            if let overlap = folders.first(where: { !Set($0.seeds).isDisjoint(with: seeds) }) {
                throw ReplicateError("\(dir) and \(overlap.dir) both ran seed \(Set(overlap.seeds).intersection(seeds).sorted()[0])")
            }
            folders.append(TaskFolder(dir: dir, configJSON: json, seeds: seeds))
        }
        guard let reference, let preset else { throw ReplicateError("no finished run folders to merge") }
        var merged = reference.config
        merged.seeds = folders.flatMap(\.seeds).sorted()
        // The first folder's thread count; the check below holds every other folder to it.
        Parallel.setThreads(try taskProvenance(folders[0].dir).threads)
        groups.append(([], preset, merged.seeds, folders, merged))
    }
    // One build, one thread count: what makes the merge equal one process's run.
    let here = Provenance.current(seeds: [], threads: Parallel.threads, root: root)
    var dirty: [String] = []
    for g in groups {
        for f in g.folders {
            let p = try taskProvenance(f.dir)
            if let expectedCommit, p.commit != expectedCommit {
                throw ReplicateError("\(f.dir) ran commit \(p.commit.prefix(7)), the sweep was written at \(expectedCommit.prefix(7)): "
                    + "merge with the build that ran the tasks")
            }
            guard p.commit == here.gitCommit else {
                throw ReplicateError("\(f.dir) ran commit \(p.commit.prefix(7)), this build is \(here.gitCommit.prefix(7)): "
                    + "merge with the build that ran the tasks")
            }
            guard p.threads == Parallel.threads else {
                throw ReplicateError("\(f.dir) ran with \(p.threads) threads, the others with \(Parallel.threads): their evaluations are not one run's")
            }
            if p.dirty { dirty.append(f.dir) }
        }
    }
    if !dirty.isEmpty {
        log("warning: \(dirty.count) task folders ran from a tree with uncommitted changes: the merge assumes it was this one")
    }
    return try groups.map { g in
        log("merging \(g.folders.count) task folders, seeds \(seedRangeText(g.seeds)): \(g.overrides.joined(separator: " "))")
        return try execute(paper, preset: g.preset, overrides: g.overrides, seeds: g.seeds.map(String.init).joined(separator: ","),
                           runsDir: runsDir ?? mergedRunsDir(paths), root: root, merging: g.folders, config: g.config)
    }
}

/// Merged runs go beside the tasks: `<sweep>/merged/` for a sweep folder, else `<first folder's parent>/merged/`.
func mergedRunsDir(_ paths: [String]) -> String {
    let fm = FileManager.default
    if paths.count == 1, fm.fileExists(atPath: paths[0] + "/sweep.json") { return paths[0] + "/merged" }
    let first = URL(fileURLWithPath: paths[0]).standardizedFileURL
    return (fm.fileExists(atPath: first.path + "/config.json") ? first.deletingLastPathComponent().deletingLastPathComponent() : first.deletingLastPathComponent())
        .appendingPathComponent("merged").path
}

/// The per-seed timing scalars of the task folders' metrics.h5 (a task's values are in the
/// order of its seeds), by seed.
func taskTimings(_ folders: [TaskFolder]) throws -> [UInt64: [String: Double]] {
    var out: [UInt64: [String: Double]] = [:]
    for f in folders {
        do {
            let h5 = try H5File.open(f.dir + "/metrics.h5")
            let seeds = try h5.intsAttribute("seeds").map { UInt64(bitPattern: $0) }
            for name in try h5.children(of: "scalars") where isTimingMetric(name) {
                let values = try h5.read("scalars/\(name)", as: Double.self).values
                guard values.count == seeds.count else { continue }   // shared, or not every seed has it
                for (s, v) in zip(seeds, values) { out[s, default: [:]][name] = v }
            }
        } catch {
            throw ReplicateError("\(f.dir)/metrics.h5: cannot read the task's timings (\(error))")
        }
    }
    return out
}

/// Copies every finished `checkpoint.h5` under the task folders' `seed-*/` into the merged run
/// folder at the same relative path (two tasks that both trained one model, e.g. a shared
/// baseline, trained it identically: the first copy stays).
func copyCheckpoints(from folders: [TaskFolder], to dir: String) throws {
    let fm = FileManager.default
    for f in folders {
        guard let files = fm.enumerator(atPath: f.dir) else { continue }
        for case let rel as String in files where rel.hasPrefix("seed-") && rel.hasSuffix("/checkpoint.h5") {
            let dest = dir + "/" + rel
            guard !fm.fileExists(atPath: dest) else { continue }
            try fm.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try replaceAtomically(dest) { try fm.copyItem(atPath: f.dir + "/" + rel, toPath: $0) }
        }
    }
}

import Foundation
import Testing
@testable import Replicate
import Reporting

// `sweep` and `merge` without a cluster: the job array's script is run here once per array
// index (as Slurm would run it), and the merge must equal one process running every seed.
// tools/slurm/test.sh does the same through a real Slurm, with a requeue.

@Test func seedRangesParseAndPrint() throws {
    #expect(try parseSeeds("1-3,7") == [1, 2, 3, 7])
    #expect(try parseSeeds("5") == [5])
    #expect(seedRangeText([1, 2, 3, 7, 8]) == "1-3,7,8")
    #expect(seedRangeText([1, 2, 3], separator: "_") == "1-3")
    for bad in ["", "3-1", "a", "1,1", "1-2,2", "1--2"] {
        #expect(throws: ReplicateError.self, "\(bad)") { try parseSeeds(bad) }
    }
    #expect(try parseGrid("variants=min,max lr=1,2").map(\.values) == [["min", "max"], ["1", "2"]])
    for bad in ["variants", "=1", "a=", "a=1,,2", "a=1,1"] {
        #expect(throws: ReplicateError.self, "\(bad)") { try parseGrid(bad) }
    }
    #expect(statedMinutes("exactness … (~1.5 min, gated)") == 1.5)
    #expect(statedMinutes("smoke (~30 s)") == 0.5)
    #expect(statedMinutes("400 iterations, 3 seeds") == nil)
    #expect(statedGiB("N 1k…512k within 8 GiB of K+V") == 8)
    #expect(statedGiB("~3 min") == nil)
    #expect(shellQuoted("max_iters=60") == "max_iters=60")
    #expect(shellQuoted("it's a b") == "'it'\\''s a b'")
}

/// Runs the sweep script's task `index` here, as Slurm would (same environment variable).
func runSweepTask(_ script: String, index: Int) throws -> (status: Int32, log: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [script]
    var env = ProcessInfo.processInfo.environment
    env["SLURM_ARRAY_TASK_ID"] = "\(index)"
    p.environment = env
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Metrics of a run folder other than timings, which depend on the machine.
func nonTimingMetrics(_ dir: String) throws -> [String: Double] {
    try readMetrics(dir + "/metrics.json").filter { !isTimingMetric($0.key) }
}

/// The stdout of a paper command (the folders it prints) and its stderr.
func runPrinting(_ args: [String], executable: String) throws -> (status: Int32, out: String, log: String) {
    let (p, err) = try launch(args, executable: executable)
    let out = p.standardOutput as! Pipe
    // Both pipes drained at once: a log longer than a pipe's buffer must not stall the child.
    nonisolated(unsafe) var e = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); drained.signal() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite(.serialized, .enabled(if: packageExecutable("_template") != nil, "_template not built"))
struct SweepTests {
    let exe = packageExecutable("_template")!

    /// Three seeds as three array tasks, merged: the one-process metrics exactly; the script
    /// asks for what the tasks need; a finished task is skipped when the array runs again.
    @Test func mergedSweepEqualsOneProcess() throws {
        let runs = try temporaryDirectory("sweep")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let s = try runPrinting(["sweep", "--preset", "ci", "--seeds", "1-3", "--cpus", "1", "--submit", "0", "--runs", runs, "max_iters=60"],
                                executable: exe)
        try #require(s.status == 0, "\(s.log)")
        let sweepDir = try #require(try FileManager.default.contentsOfDirectory(atPath: runs + "/_template").first.map { runs + "/_template/" + $0 })
        let script = try String(contentsOfFile: sweepDir + "/sweep.sbatch", encoding: .utf8)
        for line in ["#SBATCH --array=1-3", "#SBATCH --cpus-per-task=1", "#SBATCH --requeue", "#SBATCH --time=0:10:00",
                     "#SBATCH --output=\(sweepDir)/logs/task-%a.out", "3) set -- --seeds 3 max_iters=60 ;;"] {
            #expect(script.contains(line), "\(line) missing from\n\(script)")
        }
        #expect(s.out.contains("submit it with `sbatch \(sweepDir)/sweep.sbatch`"), "\(s.out)")
        for i in 1...3 {
            let t = try runSweepTask(sweepDir + "/sweep.sbatch", index: i)
            try #require(t.status == 0, "task \(i): \(t.log)")
        }
        let again = try runSweepTask(sweepDir + "/sweep.sbatch", index: 2)
        #expect(again.status == 0 && again.log.contains("is finished: nothing to do"), "\(again.log)")
        #expect(try runSweepTask(sweepDir + "/sweep.sbatch", index: 4).status != 0, "an index outside the array ran")

        let m = try runPrinting(["merge", sweepDir], executable: exe)
        try #require(m.status == 0, "\(m.log)")
        #expect(!m.log.contains("iter 1/"), "the merge trained:\n\(m.log)")
        let merged = m.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let local = try runPrinting(["run", "--preset", "ci", "--seeds", "1,2,3", "--threads", "1", "--runs", runs + "/local", "max_iters=60"],
                                    executable: exe)
        try #require(local.status == 0, "\(local.log)")
        let localDir = local.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let a = try nonTimingMetrics(merged), b = try nonTimingMetrics(localDir)
        #expect(!a.isEmpty && a == b, "merged \(a)\nlocal \(b)")
        // Per-seed timings are the tasks' (the merge itself trains nothing): their mean over the tasks.
        let taskDirs = try FileManager.default.contentsOfDirectory(atPath: sweepDir + "/tasks/_template").map { sweepDir + "/tasks/_template/" + $0 }
        let timing = try readMetrics(merged + "/metrics.json").filter { isTimingMetric($0.key) }
        for (name, value) in timing {
            let perTask = try taskDirs.compactMap { try readMetrics($0 + "/metrics.json")[name] }
            if perTask.count == 3 { #expect(abs(value - perTask.reduce(0, +) / 3) <= 1e-12 * max(1, abs(value)), "\(name): \(value) vs the tasks' \(perTask)") }
        }
        #expect(URL(fileURLWithPath: merged).lastPathComponent == URL(fileURLWithPath: localDir).lastPathComponent,
                "the merged folder is named as the one-process run's")
        // The claims' rows (each ends in its verdict) and the verdict summary.
        let verdictWords = ["reproduced", "not reproduced", "not comparable at this scale", "not measured"]
        let verdicts = { (d: String) in
            try String(contentsOfFile: d + "/report.md", encoding: .utf8).split(separator: "\n").filter { line in
                line.hasPrefix("**Verdicts:**") || (line.hasPrefix("| ") && verdictWords.contains { line.hasSuffix("| \($0) |") })
            }.map { line in   // a claim's id and verdict (a timing's measured column is the machine's)
                line.hasPrefix("**") ? String(line) : [line.components(separatedBy: " | ").first!, line.components(separatedBy: " | ").last!].joined(separator: " ")
            }
        }
        let v = try verdicts(merged), w = try verdicts(localDir)
        #expect(v.count >= 2 && v == w, "the verdicts differ: \(v)\n\(w)")
    }

    /// Missing and mismatched tasks are refused with the reason; --partial merges what exists.
    @Test func mergeRefusesIncompleteOrMixedFolders() throws {
        let runs = try temporaryDirectory("sweep-bad")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let s = try runPrinting(["sweep", "--preset", "ci", "--seeds", "1-3", "--cpus", "1", "--submit", "0", "--runs", runs, "max_iters=30"],
                                executable: exe)
        try #require(s.status == 0, "\(s.log)")
        let sweepDir = runs + "/_template/" + (try FileManager.default.contentsOfDirectory(atPath: runs + "/_template").first ?? "")
        for i in 1...2 { try #require(try runSweepTask(sweepDir + "/sweep.sbatch", index: i).status == 0) }
        let m = try runPrinting(["merge", sweepDir], executable: exe)
        #expect(m.status != 0 && m.log.contains("1 of 3 tasks are not finished") && m.log.contains("task 3 (--seeds 3 max_iters=30): no folder"),
                "\(m.log)")
        let p = try runPrinting(["merge", sweepDir, "--partial", "1"], executable: exe)
        #expect(p.status == 0 && p.log.contains("merging 2 task folders, seeds 1,2"), "\(p.log)")

        // Loose run folders: one config, disjoint seeds, same thread count.
        let tasks = runs + "/_template/" + URL(fileURLWithPath: sweepDir).lastPathComponent + "/tasks/_template"
        let other = try runPrinting(["run", "--preset", "ci", "--seeds", "3", "--threads", "1", "--runs", runs + "/other", "max_iters=31"],
                                    executable: exe)
        try #require(other.status == 0, "\(other.log)")
        let mixed = try runPrinting(["merge", tasks, other.out.trimmingCharacters(in: .whitespacesAndNewlines)], executable: exe)
        #expect(mixed.status != 0 && mixed.log.contains("ran different configs (beyond their seeds)"), "\(mixed.log)")
        let twice = try runPrinting(["merge", tasks, tasks], executable: exe)
        #expect(twice.status != 0 && twice.log.contains("both ran seed"), "\(twice.log)")
        let loose = try runPrinting(["merge", tasks], executable: exe)
        #expect(loose.status == 0 && loose.log.contains("merging 2 task folders, seeds 1,2"), "\(loose.log)")
        #expect(try runPrinting(["merge", runs + "/nothing"], executable: exe).status != 0)
    }

    /// Bad sweep requests fail before anything is written.
    @Test func sweepRefusesBadRequests() throws {
        let runs = try temporaryDirectory("sweep-args")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        for (args, message) in [(["--seeds", "2-1"], "seeds take integers and ranges"),
                                (["--grid", "nokey=1,2"], "no config key \"nokey\""),
                                (["--grid", "features=2,x"], "features"),
                                (["--cpus", "0"], "--cpus takes a positive integer"),
                                (["--submit", "yes"], "--submit takes 0"),
                                (["--grid", "features=2,3", "features=4"], "both an override and a --grid axis")] {
            let r = try runPrinting(["sweep", "--preset", "ci", "--submit", "0", "--runs", runs] + args, executable: exe)
            #expect(r.status != 0 && r.log.contains(message), "\(args): \(r.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: runs + "/_template"), "a refused sweep wrote a folder")
    }
}

/// Hilsenbek's variants split over tasks (a list-valued grid key) join into one run, identical
/// to one process training both variants.
@Test(.enabled(if: packageExecutable("hilsenbek") != nil, "hilsenbek not built"))
func sweepOverVariantsMergesIntoOneRun() throws {
    let exe = packageExecutable("hilsenbek")!
    let runs = try temporaryDirectory("sweep-variants")
    defer { try? FileManager.default.removeItem(atPath: runs) }
    let small = ["max_iters=20", "eval_interval=10", "eval_iters=2"]
    let s = try runPrinting(["sweep", "--preset", "ci", "--seeds", "1", "--cpus", "2", "--submit", "0", "--runs", runs,
                             "--grid", "variants=attention,min"] + small, executable: exe)
    try #require(s.status == 0, "\(s.log)")
    let sweepDir = runs + "/hilsenbek/" + (try FileManager.default.contentsOfDirectory(atPath: runs + "/hilsenbek").first ?? "")
    for i in 1...2 {
        let t = try runSweepTask(sweepDir + "/sweep.sbatch", index: i)
        try #require(t.status == 0, "task \(i): \(t.log)")
    }
    let m = try runPrinting(["merge", sweepDir], executable: exe)
    try #require(m.status == 0, "\(m.log)")
    #expect(m.log.contains("variants=attention,min"), "\(m.log)")
    let local = try runPrinting(["run", "--preset", "ci", "--seeds", "1", "--threads", "2", "--runs", runs + "/local", "variants=attention,min"] + small,
                                executable: exe)
    try #require(local.status == 0, "\(local.log)")
    let a = try nonTimingMetrics(m.out.trimmingCharacters(in: .whitespacesAndNewlines))
    let b = try nonTimingMetrics(local.out.trimmingCharacters(in: .whitespacesAndNewlines))
    #expect(a.keys.contains { $0.hasPrefix("delta_val_loss_best.min_vs_attention") }, "the cross-variant metrics are missing: \(a.keys.sorted())")
    #expect(!a.isEmpty && a == b, "merged \(a)\nlocal \(b)")
}

// `make summary`: runs/index.md and runs/index.html, the first page of every replication run
// here (Reporting's scanRuns). Reads run folders only; never runs anything.
//
//     summary [--runs DIR] [--all 1]
import Foundation
import Reporting

var args = Array(CommandLine.arguments.dropFirst())
var options: [String: String] = [:]
while !args.isEmpty {
    let a = args.removeFirst()
    guard a.hasPrefix("--"), ["--runs", "--all"].contains(a), !args.isEmpty else {
        FileHandle.standardError.write(Data("usage: summary [--runs DIR] [--all 1]  (writes DIR/index.md and DIR/index.html; DIR defaults to runs/)\n".utf8))
        exit(a == "--help" || a == "-h" ? 0 : 2)
    }
    options[String(a.dropFirst(2))] = args.removeFirst()
}
let root = ProcessInfo.processInfo.environment["REPLICATE_ROOT"] ?? FileManager.default.currentDirectoryPath
let runs = options["runs"] ?? root + "/runs"
guard FileManager.default.fileExists(atPath: runs) else {
    FileHandle.standardError.write(Data("summary: no runs folder \(runs): run `make replicate PAPER=...` first\n".utf8))
    exit(1)
}
// The ci preset's config per paper, from its built binary: drift is judged only for runs of it.
var ciConfigs: [String: String] = [:]
for paper in (try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? [] {
    let exe = "\(root)/.build/release/\(paper)"
    guard FileManager.default.isExecutableFile(atPath: exe) else { continue }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = ["validate", "--preset", "ci"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { continue }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus == 0 { ciConfigs[paper] = text.trimmingCharacters(in: .whitespacesAndNewlines) }
}
let scan = scanRuns(runs, papersDir: root + "/papers", ciConfigs: ciConfigs, all: (options["all"] ?? "0") != "0")
do {
    try writeAtomically(Data(summaryMarkdown(scan).utf8), to: runs + "/index.md")
    try writeAtomically(Data(summaryHTML(scan, runsDir: runs).utf8), to: runs + "/index.html")
} catch {
    FileHandle.standardError.write(Data("summary: \(error)\n".utf8))
    exit(1)
}
for r in scan.runs {
    let counts = [Verdict.reproduced, .directionOnly, .notReproduced, .notComparable, .notMeasured]
        .map { "\(r.count($0)) \($0.rawValue)" }.joined(separator: ", ")
    let drift = r.drift.map { $0.isEmpty ? "" : "; DRIFTED from ci baseline: \($0.joined(separator: ", "))" } ?? ""
    print("\(r.paper) [\(r.preset)] \(r.path): \(counts)\(drift)")
}
for s in scan.skipped { print("skipped \(s.path): \(s.reason)") }
print("wrote \(runs)/index.html and index.md: \(scan.runs.count) runs, \(scan.skipped.count) skipped")

import Foundation
@testable import Plots

/// Tests that need gnuplot are skipped (not failed) where it is not installed.
let gnuplotInstalled = Gnuplot.locate("gnuplot") != nil

/// A fresh folder per test, so tests can run in parallel; removed by the caller's `defer`.
func makeScratchFolder(_ name: String = #function) throws -> String {
    let tag = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("plots-test-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

func removeFolder(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}

/// One block of a figure's .dat file: its `# index ...` header line and its numeric rows.
struct DataBlock {
    var header: String
    var rows: [[Double]]
}

/// Reads a .dat back the way gnuplot does: blocks end at two blank lines, `#` starts a comment.
func parseDataBlocks(_ path: String) throws -> [DataBlock] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.components(separatedBy: "\n\n\n").map { chunk in
        let lines = chunk.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let header = lines.first { $0.hasPrefix("# index") } ?? ""
        let rows = lines.filter { !$0.hasPrefix("#") }.map { line in
            line.split(separator: " ").map { Double(String($0))! }
        }
        return DataBlock(header: header, rows: rows)
    }
}

/// Runs gnuplot the way a person would: `cd folder && gnuplot script`.
func runGnuplot(script: String, in folder: String) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Gnuplot.locate("gnuplot")!)
    process.arguments = [script]
    process.currentDirectoryURL = URL(fileURLWithPath: folder, isDirectory: true)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// The RGB pixel at (x, y) of a decoded image.
func pixel(_ image: (width: Int, height: Int, rgb: [UInt8]), _ x: Int, _ y: Int) -> RGB {
    let i = (y * image.width + x) * 3
    return RGB(image.rgb[i], image.rgb[i + 1], image.rgb[i + 2])
}

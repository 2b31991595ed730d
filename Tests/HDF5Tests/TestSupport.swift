import Foundation
import HDF5
import Testing

/// A fresh directory under the system temp dir, removed after `body`.
func withTempDir<R>(_ body: (URL) throws -> R) throws -> R {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("hdf5tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

/// Expects `body` to throw an `H5Error` whose one-line description contains every fragment
/// (always including the file path, so users can tell which file is broken).
@discardableResult
func expectH5Error(containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) -> H5Error? {
    let error = #expect(throws: H5Error.self, sourceLocation: sourceLocation) { try body() }
    if let error {
        let text = error.description
        #expect(!text.contains("\n"), "error should be one line: \(text)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(text.contains(fragment), "\"\(text)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    }
    return error
}

/// Runs an executable, returning its exit status and combined stdout+stderr.
func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    // Read before waiting: a full pipe would otherwise block the child forever.
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

let h5dumpPath = "/usr/bin/h5dump"
let h5dumpAvailable = FileManager.default.isExecutableFile(atPath: h5dumpPath)

/// Runs `python3` as found on PATH (a pyenv or venv python is where h5py usually lives).
func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try runProcess("/usr/bin/env", ["python3"] + arguments)
}

let h5pyAvailable: Bool = (try? runPython(["-c", "import h5py"]))?.status == 0

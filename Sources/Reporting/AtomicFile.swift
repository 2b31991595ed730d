import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `data` to `path` so that readers see either the old file or the whole new one.
///
/// The data goes to a temporary file in the same directory (a rename is only atomic within one
/// file system), then `rename(2)` replaces the target. A run killed mid-write, or `make check`
/// reading while a run finishes, never sees half a report or half a baseline.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let temporary = (directory as NSString).appendingPathComponent(
        ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    // Not `.atomic`: that would stage a second temporary file of its own.
    try data.write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
        let code = errno
        try? FileManager.default.removeItem(atPath: temporary)
        throw CocoaError(.fileWriteUnknown, userInfo: [
            NSFilePathErrorKey: path,
            NSLocalizedDescriptionKey: "cannot rename \(temporary) to \(path): \(String(cString: strerror(code)))",
        ])
    }
}

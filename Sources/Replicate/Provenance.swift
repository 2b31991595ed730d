import CBLAS
import Foundation
import HDF5

/// Where a result came from: recorded as attributes on every HDF5 file and in every report.
public struct Provenance: Codable, Sendable {
    public var gitCommit: String
    public var gitDirty: Bool
    public var seeds: [UInt64]
    public var threads: Int
    public var swiftVersion: String
    public var blas: String
    public var cpu: String
    public var date: String
    public var host: String

    public static func current(seeds: [UInt64], threads: Int, root: String) -> Provenance {
        let commit = shell(["git", "-C", root, "rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines)
        let status = shell(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
        let swift = ProcessInfo.processInfo.environment["REPLICATE_SWIFT_VERSION"]
            ?? shell(["swift", "--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown"
        return Provenance(
            gitCommit: commit?.isEmpty == false ? commit! : "unknown",
            gitDirty: !(status ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            seeds: seeds, threads: threads, swiftVersion: swift,
            blas: openblas_get_config().map { String(cString: $0) } ?? "unknown",
            cpu: cpuModel(), date: ISO8601DateFormatter().string(from: Date()),
            host: ProcessInfo.processInfo.hostName)
    }

    /// First 7 hex digits, with "-dirty" when the tree had uncommitted changes.
    public var shortCommit: String { String(gitCommit.prefix(7)) + (gitDirty ? "-dirty" : "") }

    /// Write as root attributes of an HDF5 file.
    public func attach(to file: H5File) throws {
        try file.setAttribute("git_commit", .string(gitCommit))
        try file.setAttribute("git_dirty", .int(gitDirty ? 1 : 0))
        try file.setAttribute("seeds", .ints(seeds.map { Int64(bitPattern: $0) }))
        try file.setAttribute("threads", .int(Int64(threads)))
        try file.setAttribute("swift_version", .string(swiftVersion))
        try file.setAttribute("blas", .string(blas))
        try file.setAttribute("cpu", .string(cpu))
        try file.setAttribute("date", .string(date))
        try file.setAttribute("host", .string(host))
    }

    static func cpuModel() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        return "\(model) × \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}

/// Output of a command, or nil if it cannot run or fails.
func shell(_ args: [String]) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
}

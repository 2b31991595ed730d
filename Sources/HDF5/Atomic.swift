import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Replaces the file at `path` all at once: `write` fills a temporary file
/// `<path>.tmp-<pid>` in the same directory, which is then fsynced and `rename(2)`d onto
/// `path`. Readers see either the old file or the complete new one, never a half-written
/// file, even if the process dies mid-write. If `write` throws (or the temp file cannot be
/// made durable), the temp file is removed and any existing file at `path` is untouched.
///
///     try replaceAtomically("metrics.json") { tmp in try data.write(to: URL(fileURLWithPath: tmp)) }
///
/// The temp name carries only the pid: two threads of one process must not replace the
/// same path concurrently.
public func replaceAtomically(_ path: String, write: (String) throws -> Void) throws {
    let temporary = "\(path).tmp-\(getpid())"
    // A leftover from a crashed run of a process that had the same pid.
    unlink(temporary)
    do {
        try write(temporary)
        try fsyncFile(temporary, reportAs: path)
        guard rename(temporary, path) == 0 else {
            throw H5Error(file: path, message: "cannot rename \(temporary) onto it: \(String(cString: strerror(errno)))")
        }
    } catch {
        unlink(temporary)
        throw error
    }
    // Make the rename itself durable; the new file is already complete, so failing here
    // would only lose the rename on power loss and is not worth an error.
    let directory = (path as NSString).deletingLastPathComponent
    let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
    if fd >= 0 {
        _ = fsync(fd)
        close(fd)
    }
}

private func fsyncFile(_ file: String, reportAs path: String) throws {
    let fd = open(file, O_RDONLY)
    guard fd >= 0 else {
        throw H5Error(file: path, message: "the writer did not produce \(file): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    guard fsync(fd) == 0 else {
        throw H5Error(file: path, message: "fsync of \(file) failed: \(String(cString: strerror(errno)))")
    }
}

extension H5File {
    /// Writes a new HDF5 file at `path` atomically (see `replaceAtomically`): `body` fills a
    /// fresh file, which is flushed, closed, fsynced and renamed over `path`. If `body` throws,
    /// an existing file at `path` is left byte-identical and no temp file remains.
    ///
    ///     try H5File.writeAtomically(to: "ckpt.h5") { f in try f.write("params/w", w, shape: [4, 4]) }
    ///
    /// Inside `body`, `f.path` is the temp path, so errors name `<path>.tmp-<pid>`.
    public static func writeAtomically(to path: String, _ body: (H5File) throws -> Void) throws {
        try replaceAtomically(path) { temporary in
            let file = try H5File.create(temporary)
            do {
                try body(file)
            } catch {
                try? file.close()
                throw error
            }
            try file.close()
        }
    }
}

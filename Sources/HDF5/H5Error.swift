import CHDF5

/// An error from the HDF5 layer, naming the file and (when there is one) the object involved.
///
/// Its `description` is one line, e.g.
/// `checkpoint.h5: not a valid HDF5 file (truncated or corrupt)` or
/// `run.h5: params/w: stored as float32, cannot be read as Int64`.
///
///     do { _ = try H5File.open("run.h5") } catch let e as H5Error { print(e) }
public struct H5Error: Error, CustomStringConvertible, Sendable {
    /// The file path as the caller gave it.
    public let file: String
    /// The object (group, dataset) path inside the file, or `nil` for file-level errors.
    public let object: String?
    /// What went wrong, in words.
    public let message: String

    public init(file: String, object: String? = nil, message: String) {
        self.file = file
        self.object = object
        self.message = message
    }

    public var description: String {
        if let object { return "\(file): \(object): \(message)" }
        return "\(file): \(message)"
    }
}

// MARK: - Internal helpers

/// Turns off HDF5's automatic printing of error stacks to stderr. The library is built
/// thread-safe, which makes this setting per thread, so every entry point calls it.
@inline(__always)
func silenceHDF5() {
    _ = H5Eset_auto2(chdf5_e_default(), nil, nil)
}

/// The innermost description on this thread's HDF5 error stack (e.g.
/// "truncated file: eof = 1024, ..."), for errors we cannot explain better ourselves.
/// Must be called right after the failing call: the next API call clears the stack.
func hdf5ErrorDetail() -> String? {
    final class Box { var text: String? }
    let box = Box()
    let walker: H5E_walk2_t = { _, err, context in
        guard let err, let context, let desc = err.pointee.desc else { return 0 }
        let box = Unmanaged<Box>.fromOpaque(context).takeUnretainedValue()
        if box.text == nil {
            let text = String(cString: desc)
            if !text.isEmpty { box.text = text }
        }
        return 0
    }
    _ = withExtendedLifetime(box) {
        H5Ewalk2(chdf5_e_default(), H5E_WALK_UPWARD, walker, Unmanaged.passUnretained(box).toOpaque())
    }
    return box.text
}

import CHDF5
import Foundation

/// An open HDF5 file. Objects are addressed by slash paths relative to the root
/// ("params/transformer.h.0.attn.c_attn.weight"); dots are ordinary characters in names.
///
///     let f = try H5File.create("run.h5")
///     try f.write("params/w", [1, 2, 3, 4] as [Float], shape: [2, 2])
///     try f.setAttribute("step", .int(1000))
///     try f.close()
///
/// The file is closed on `close()` or, failing that, when the object is released. An
/// `H5File` is not meant to be shared between threads (libhdf5 itself is thread-safe).
public final class H5File {
    /// The path as given to `create` or `open`; errors name the file by it.
    public let path: String
    /// Whether this handle may modify the file.
    public let isWritable: Bool
    /// `-1` once closed.
    private(set) var id: hid_t

    private init(path: String, id: hid_t, writable: Bool) {
        self.path = path
        self.id = id
        self.isWritable = writable
    }

    deinit {
        if id >= 0 {
            silenceHDF5()
            _ = H5Fclose(id)
        }
    }

    /// Creates (or truncates) the file at `path` for writing.
    ///
    ///     let f = try H5File.create("/tmp/out.h5")
    public static func create(_ path: String) throws -> H5File {
        silenceHDF5()
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !directory.isEmpty,
           !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw H5Error(file: path, message: "cannot create file: directory \(directory) does not exist")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw H5Error(file: path, message: "cannot create file: a directory exists at this path")
        }
        let fapl = makeFileAccessPlist()
        defer { H5Pclose(fapl) }
        let id = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), fapl)
        guard id >= 0 else {
            throw H5Error(file: path, message: "cannot create file: \(hdf5ErrorDetail() ?? "unknown HDF5 error")")
        }
        return H5File(path: path, id: id, writable: true)
    }

    /// Opens an existing HDF5 file, read-only unless `writable`.
    ///
    ///     let f = try H5File.open("checkpoint.h5")
    ///
    /// Throws an `H5Error` such as `checkpoint.h5: not a valid HDF5 file (truncated or corrupt)`
    /// when the file is missing, unreadable, truncated or corrupt.
    public static func open(_ path: String, writable: Bool = false) throws -> H5File {
        silenceHDF5()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw H5Error(file: path, message: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw H5Error(file: path, message: "is a directory, not an HDF5 file")
        }
        guard access(path, writable ? (R_OK | W_OK) : R_OK) == 0 else {
            throw H5Error(file: path, message: "permission denied (\(writable ? "read-write" : "read-only") open)")
        }
        // H5Fis_hdf5 only finds the signature; a truncated file passes it and fails in H5Fopen.
        guard H5Fis_hdf5(path) > 0 else { throw notHDF5(path) }
        let fapl = makeFileAccessPlist()
        defer { H5Pclose(fapl) }
        let id = H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), fapl)
        guard id >= 0 else {
            let detail = hdf5ErrorDetail() ?? ""
            // HDF5 >= 1.10 locks files; a writer elsewhere makes opening fail with this.
            if detail.contains("unable to lock") {
                throw H5Error(file: path, message: "file is locked, probably open for writing in another process (\(detail))")
            }
            throw notHDF5(path)
        }
        return H5File(path: path, id: id, writable: writable)
    }

    /// Flushes (when writable) and closes the file. Safe to call more than once.
    ///
    ///     try f.close()
    public func close() throws {
        guard id >= 0 else { return }
        silenceHDF5()
        let fileID = id
        id = -1
        var problem: String?
        if isWritable, H5Fflush(fileID, H5F_SCOPE_LOCAL) < 0 {
            problem = "flush failed: \(hdf5ErrorDetail() ?? "unknown HDF5 error")"
        }
        if H5Fclose(fileID) < 0, problem == nil {
            problem = "close failed: \(hdf5ErrorDetail() ?? "unknown HDF5 error")"
        }
        if let problem { throw H5Error(file: path, message: problem) }
    }

    /// Whether the file is still open.
    public var isOpen: Bool { id >= 0 }

    // MARK: - Groups and listing

    /// Whether a group or dataset exists at `path` ("/" is the root and always exists).
    ///
    ///     if f.exists("params/wte.weight") { ... }
    public func exists(_ path: String) -> Bool {
        guard id >= 0 else { return false }
        silenceHDF5()
        return objectExists(Self.components(path))
    }

    /// Whether `path` names a group (the root "/" included).
    ///
    ///     f.isGroup("params")  // true
    public func isGroup(_ path: String) -> Bool {
        objectType(Self.components(path)) == H5I_GROUP
    }

    /// Whether `path` names a dataset.
    ///
    ///     f.isDataset("params/w")  // true
    public func isDataset(_ path: String) -> Bool {
        objectType(Self.components(path)) == H5I_DATASET
    }

    /// Creates the group at `path` and any missing parents; does nothing if it exists.
    ///
    ///     try f.createGroup("metrics/train")
    public func createGroup(_ path: String) throws {
        let parts = Self.components(path)
        let fileID = try writableID(Self.join(parts))
        guard !parts.isEmpty else { return }
        try requireParentGroups(parts)
        if let existing = objectType(parts) {
            guard existing == H5I_GROUP else {
                throw H5Error(file: self.path, object: Self.join(parts), message: "is a dataset, not a group")
            }
            return
        }
        let lcpl = Self.makeLinkCreatePlist()
        defer { H5Pclose(lcpl) }
        let group = H5Gcreate2(fileID, Self.join(parts), lcpl, chdf5_p_default(), chdf5_p_default())
        guard group >= 0 else { throw hdf5Failure(Self.join(parts), "cannot create group") }
        H5Gclose(group)
    }

    /// The names of the direct members (groups and datasets) of a group, sorted.
    ///
    ///     try f.children(of: "params")  // ["transformer.h.0.attn.c_attn.bias", ...]
    public func children(of group: String = "/") throws -> [String] {
        let parts = Self.components(group)
        let name = Self.join(parts)
        let fileID = try openID(name)
        guard objectType(parts) == H5I_GROUP else {
            throw H5Error(file: self.path, object: name, message: objectExists(parts) ? "is a dataset, not a group" : "no such group")
        }
        let gid = H5Gopen2(fileID, name, chdf5_p_default())
        guard gid >= 0 else { throw hdf5Failure(name, "cannot open group") }
        defer { H5Gclose(gid) }
        var info = H5G_info_t()
        guard H5Gget_info(gid, &info) >= 0 else { throw hdf5Failure(name, "cannot list group") }
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
            guard length >= 0 else { throw hdf5Failure(name, "cannot list group") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            _ = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, chdf5_p_default())
            names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names.sorted()
    }

    // MARK: - Internal plumbing

    /// Splits "a//b/c/" into ["a", "b", "c"]; the root is [].
    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// The HDF5 name for path components: "/" for the root, else "a/b/c" (relative to the file).
    static func join(_ parts: [String]) -> String {
        parts.isEmpty ? "/" : parts.joined(separator: "/")
    }

    /// Checked per component, because H5Lexists fails (rather than returning false)
    /// when an intermediate link is missing.
    func objectExists(_ parts: [String]) -> Bool {
        guard id >= 0 else { return false }
        for depth in parts.indices {
            let prefix = Self.join(Array(parts[...depth]))
            guard H5Lexists(id, prefix, chdf5_p_default()) > 0 else { return false }
        }
        // Dangling soft or external links exist as links but not as objects.
        return H5Oexists_by_name(id, Self.join(parts), chdf5_p_default()) > 0
    }

    /// H5I_GROUP, H5I_DATASET, ... for an existing object, or `nil`.
    func objectType(_ parts: [String]) -> H5I_type_t? {
        guard id >= 0 else { return nil }
        silenceHDF5()
        guard objectExists(parts) else { return nil }
        let object = H5Oopen(id, Self.join(parts), chdf5_p_default())
        guard object >= 0 else { return nil }
        defer { H5Oclose(object) }
        return H5Iget_type(object)
    }

    /// The file id, after silencing HDF5 on this thread; throws if the file was closed.
    func openID(_ object: String?) throws -> hid_t {
        silenceHDF5()
        guard id >= 0 else { throw H5Error(file: self.path, object: object, message: "file is closed") }
        return id
    }

    func writableID(_ object: String?) throws -> hid_t {
        let fileID = try openID(object)
        guard isWritable else {
            throw H5Error(file: self.path, object: object, message: "file is open read-only (use H5File.open(_:writable: true))")
        }
        return fileID
    }

    /// Ensures every existing ancestor of `parts` is a group, so that writing "a/b" where
    /// "a" is a dataset fails with a clear message.
    func requireParentGroups(_ parts: [String]) throws {
        for depth in parts.indices.dropLast() {
            let prefix = Array(parts[...depth])
            guard objectExists(prefix) else { return }
            if objectType(prefix) != H5I_GROUP {
                throw H5Error(file: self.path, object: Self.join(parts), message: "\(Self.join(prefix)) is a dataset, not a group")
            }
        }
    }

    /// An error for an HDF5 call that failed for reasons we cannot name better.
    func hdf5Failure(_ object: String?, _ what: String) -> H5Error {
        H5Error(file: self.path, object: object, message: "\(what): \(hdf5ErrorDetail() ?? "unknown HDF5 error")")
    }

    private static func notHDF5(_ path: String) -> H5Error {
        H5Error(file: path, message: "not a valid HDF5 file (truncated or corrupt)")
    }

    /// STRONG close degree: H5Fclose really closes the file (even if an id leaked), which
    /// atomic writes rely on before fsync and rename. The v1.8 object format (rather than the
    /// earliest) allows attributes over 64 KiB, and every HDF5 >= 1.8 (h5py, h5dump) reads it.
    ///
    /// No file locking: HDF5's flock is inherited by every child process forked while a file
    /// is open (gnuplot, a test's subprocess), which then keeps the file locked against this
    /// process. Writers never share a file here (they write a temporary name and rename).
    private static func makeFileAccessPlist() -> hid_t {
        let fapl = H5Pcreate(chdf5_p_file_access())
        H5Pset_file_locking(fapl, false, true)
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18)
        return fapl
    }

    /// Link names are marked UTF-8 so h5py decodes them as `str`; parents are created on demand.
    static func makeLinkCreatePlist() -> hid_t {
        let lcpl = H5Pcreate(chdf5_p_link_create())
        H5Pset_create_intermediate_group(lcpl, 1)
        H5Pset_char_encoding(lcpl, H5T_CSET_UTF8)
        return lcpl
    }
}

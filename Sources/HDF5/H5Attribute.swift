import CHDF5
import Foundation

/// A small value attached to the root, a group or a dataset.
///
/// Scalars are stored as scalar attributes, arrays as 1-D attributes (`.ints([5])` reads back
/// as `.ints([5])`, not `.int(5)`). Strings are variable-length UTF-8, which h5py returns as
/// Python `str`.
///
///     try f.setAttribute("config", .string(json))
public enum H5Attribute: Equatable, Sendable {
    case int(Int64)
    case double(Double)
    case string(String)
    case ints([Int64])
    case doubles([Double])
    case strings([String])
}

extension H5File {
    /// Sets attribute `name` on the object at `path` (default: the root), replacing any
    /// existing attribute of that name whatever its type.
    ///
    ///     try f.setAttribute("step", .int(1000), on: "/")
    ///     try f.setAttribute("shape_names", .strings(["batch", "seq"]), on: "activations/h0")
    public func setAttribute(_ name: String, _ value: H5Attribute, on path: String = "/") throws {
        let object = Self.join(Self.components(path))
        let fileID = try openID(object)
        guard isWritable else {
            throw H5Error(file: self.path, object: object,
                          message: "cannot set attribute \"\(name)\": file is open read-only (use H5File.open(_:writable: true))")
        }
        try requireObject(object, attribute: name)
        if H5Aexists_by_name(fileID, object, name, chdf5_p_default()) > 0,
           H5Adelete_by_name(fileID, object, name, chdf5_p_default()) < 0 {
            throw hdf5Failure(object, "cannot replace attribute \"\(name)\"")
        }

        let (fileType, memoryType, shape, ownsTypes): (hid_t, hid_t, [Int]?, Bool) = switch value {
        case .int: (chdf5_std_i64le(), chdf5_native_int64(), nil, false)
        case .ints(let v): (chdf5_std_i64le(), chdf5_native_int64(), [v.count], false)
        case .double: (chdf5_ieee_f64le(), chdf5_native_double(), nil, false)
        case .doubles(let v): (chdf5_ieee_f64le(), chdf5_native_double(), [v.count], false)
        case .string: (Self.makeStringType(), Self.makeStringType(), nil, true)
        case .strings(let v): (Self.makeStringType(), Self.makeStringType(), [v.count], true)
        }
        defer { if ownsTypes { H5Tclose(fileType); H5Tclose(memoryType) } }

        var dims = (shape ?? []).map { hsize_t($0) }
        let space = shape == nil ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let attribute = H5Acreate_by_name(fileID, object, name, fileType, space,
                                          chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
        guard attribute >= 0 else { throw hdf5Failure(object, "cannot create attribute \"\(name)\"") }
        defer { H5Aclose(attribute) }

        let status: herr_t
        switch value {
        case .int(let v): status = Self.writeAttribute(attribute, memoryType, [v])
        case .ints(let v): status = Self.writeAttribute(attribute, memoryType, v)
        case .double(let v): status = Self.writeAttribute(attribute, memoryType, [v])
        case .doubles(let v): status = Self.writeAttribute(attribute, memoryType, v)
        case .string(let v): status = try writeStrings(attribute, memoryType, [v], object, name)
        case .strings(let v): status = try writeStrings(attribute, memoryType, v, object, name)
        }
        guard status >= 0 else { throw hdf5Failure(object, "cannot write attribute \"\(name)\"") }
    }

    /// Reads attribute `name` of the object at `path` (default: the root).
    ///
    ///     if case .int(let step) = try f.attribute("step") { ... }
    ///
    /// Integer attributes of any width read as `.int`/`.ints`, float ones as `.double`/
    /// `.doubles`, strings (variable or fixed length) as `.string`/`.strings`; a scalar
    /// reads as the single-value case, any other shape as the flattened array case.
    public func attribute(_ name: String, of path: String = "/") throws -> H5Attribute {
        let object = Self.join(Self.components(path))
        let fileID = try openID(object)
        try requireObject(object, attribute: name)
        guard H5Aexists_by_name(fileID, object, name, chdf5_p_default()) > 0 else {
            throw H5Error(file: self.path, object: object, message: "no attribute \"\(name)\"")
        }
        let attribute = H5Aopen_by_name(fileID, object, name, chdf5_p_default(), chdf5_p_default())
        guard attribute >= 0 else { throw hdf5Failure(object, "cannot open attribute \"\(name)\"") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        let shape = try dataspaceShape(space, "\(object) attribute \"\(name)\"")
        let isScalar = shape.isEmpty
        let count = shape.reduce(1, *)
        let stored = StoredType(type)
        let failure = { self.hdf5Failure(object, "cannot read attribute \"\(name)\"") }

        switch stored.typeClass {
        case H5T_INTEGER:
            var values = [Int64](repeating: 0, count: count)
            guard count == 0 || H5Aread(attribute, chdf5_native_int64(), &values) >= 0 else { throw failure() }
            return isScalar ? .int(values[0]) : .ints(values)
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: count)
            guard count == 0 || H5Aread(attribute, chdf5_native_double(), &values) >= 0 else { throw failure() }
            return isScalar ? .double(values[0]) : .doubles(values)
        case H5T_STRING:
            guard let values = Self.readStrings(attribute, type, count) else { throw failure() }
            return isScalar ? .string(values[0]) : .strings(values)
        default:
            throw H5Error(file: self.path, object: object,
                          message: "attribute \"\(name)\" has unsupported type \(stored.name)")
        }
    }

    /// The names of the attributes of the object at `path` (default: the root), sorted.
    ///
    ///     try f.attributeNames(of: "params/w")  // ["dtype", "source"]
    public func attributeNames(of path: String = "/") throws -> [String] {
        let object = Self.join(Self.components(path))
        let fileID = try openID(object)
        try requireObject(object, attribute: nil)
        final class Names { var list: [String] = [] }
        let names = Names()
        let collect: H5A_operator2_t = { _, name, _, context in
            guard let name, let context else { return -1 }
            Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
            return 0
        }
        let target = H5Oopen(fileID, object, chdf5_p_default())
        guard target >= 0 else { throw hdf5Failure(object, "cannot open object") }
        defer { H5Oclose(target) }
        var index: hsize_t = 0
        let status = withExtendedLifetime(names) {
            H5Aiterate2(target, H5_INDEX_NAME, H5_ITER_INC, &index, collect, Unmanaged.passUnretained(names).toOpaque())
        }
        guard status >= 0 else { throw hdf5Failure(object, "cannot list attributes") }
        return names.list.sorted()
    }

    // MARK: Typed getters

    /// A scalar integer attribute. `let step = try f.intAttribute("step")`
    public func intAttribute(_ name: String, of path: String = "/") throws -> Int64 {
        if case .int(let v) = try attribute(name, of: path) { return v }
        throw kindMismatch(name, path, "an integer")
    }

    /// A scalar float attribute (an integer one converts). `let lr = try f.doubleAttribute("lr")`
    public func doubleAttribute(_ name: String, of path: String = "/") throws -> Double {
        switch try attribute(name, of: path) {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: throw kindMismatch(name, path, "a number")
        }
    }

    /// A scalar string attribute. `let model = try f.stringAttribute("model")`
    public func stringAttribute(_ name: String, of path: String = "/") throws -> String {
        if case .string(let v) = try attribute(name, of: path) { return v }
        throw kindMismatch(name, path, "a string")
    }

    /// A 1-D integer attribute. `let dims = try f.intsAttribute("dims")`
    public func intsAttribute(_ name: String, of path: String = "/") throws -> [Int64] {
        if case .ints(let v) = try attribute(name, of: path) { return v }
        throw kindMismatch(name, path, "an integer array")
    }

    /// A 1-D float attribute. `let losses = try f.doublesAttribute("loss")`
    public func doublesAttribute(_ name: String, of path: String = "/") throws -> [Double] {
        if case .doubles(let v) = try attribute(name, of: path) { return v }
        throw kindMismatch(name, path, "a float array")
    }

    /// A 1-D string attribute. `let names = try f.stringsAttribute("names")`
    public func stringsAttribute(_ name: String, of path: String = "/") throws -> [String] {
        if case .strings(let v) = try attribute(name, of: path) { return v }
        throw kindMismatch(name, path, "a string array")
    }

    // MARK: Internal

    private func requireObject(_ object: String, attribute: String?) throws {
        guard objectExists(Self.components(object)) else {
            let suffix = attribute.map { " (looking for attribute \"\($0)\")" } ?? ""
            throw H5Error(file: self.path, object: object, message: "no such group or dataset" + suffix)
        }
    }

    private func kindMismatch(_ name: String, _ path: String, _ expected: String) -> H5Error {
        let object = Self.join(Self.components(path))
        let actual = (try? attribute(name, of: path)).map { "\($0)" } ?? "?"
        return H5Error(file: self.path, object: object, message: "attribute \"\(name)\" is not \(expected): \(actual)")
    }

    /// Variable-length UTF-8: h5py decodes it to `str` (fixed-length comes back as bytes).
    private static func makeStringType() -> hid_t {
        let type = H5Tcopy(chdf5_c_s1())
        H5Tset_size(type, chdf5_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        return type
    }

    private static func writeAttribute<T>(_ attribute: hid_t, _ memoryType: hid_t, _ values: [T]) -> herr_t {
        // H5Awrite rejects a null buffer even for zero elements.
        guard !values.isEmpty else { var dummy: UInt64 = 0; return H5Awrite(attribute, memoryType, &dummy) }
        return values.withUnsafeBytes { H5Awrite(attribute, memoryType, $0.baseAddress) }
    }

    private func writeStrings(_ attribute: hid_t, _ memoryType: hid_t, _ values: [String],
                              _ object: String, _ name: String) throws -> herr_t {
        // C strings end at the first NUL; refuse rather than silently truncate.
        guard !values.contains(where: { $0.utf8.contains(0) }) else {
            throw H5Error(file: self.path, object: object, message: "attribute \"\(name)\": strings may not contain NUL characters")
        }
        let cStrings = values.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        return Self.writeAttribute(attribute, memoryType, cStrings)
    }

    /// Strings of either kind; `nil` if HDF5 fails. Fixed-length ones end at the first NUL
    /// and lose space padding.
    private static func readStrings(_ attribute: hid_t, _ fileType: hid_t, _ count: Int) -> [String]? {
        guard count > 0 else { return [] }
        let memoryType = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(memoryType) }
        // HDF5 refuses to convert between ASCII and UTF-8 character sets, so keep the stored one.
        H5Tset_cset(memoryType, H5Tget_cset(fileType))
        if H5Tis_variable_str(fileType) > 0 {
            H5Tset_size(memoryType, chdf5_variable())
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute, memoryType, &pointers) >= 0 else { return nil }
            defer { pointers.forEach { H5free_memory($0) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let width = H5Tget_size(fileType)
        guard width > 0 else { return [String](repeating: "", count: count) }
        H5Tset_size(memoryType, width)
        H5Tset_strpad(memoryType, H5T_STR_NULLPAD)
        var bytes = [UInt8](repeating: 0, count: width * count)
        guard H5Aread(attribute, memoryType, &bytes) >= 0 else { return nil }
        return (0..<count).map { index in
            var slot = bytes[index * width ..< (index + 1) * width]
            if let end = slot.firstIndex(of: 0) { slot = slot[..<end] }
            let text = String(decoding: slot, as: UTF8.self)
            return H5Tget_strpad(fileType) == H5T_STR_SPACEPAD
                ? String(text.reversed().drop(while: { $0 == " " }).reversed()) : text
        }
    }
}

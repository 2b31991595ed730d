import CHDF5

/// The on-disk element types this layer writes: little-endian IEEE floats and standard ints.
public enum H5ElementType: String, Sendable {
    case float32, float64, int32, int64, uint8
}

/// A Swift scalar type that can be stored in an HDF5 dataset.
///
/// Conformers: `Float`, `Double`, `Int32`, `Int64`, `UInt8`.
///
///     try file.write("params/w", [Float](repeating: 0, count: 6), shape: [2, 3])
public protocol H5Element: Sendable {
    /// How values of this type are stored in the file.
    static var h5Type: H5ElementType { get }
}

extension Float: H5Element { public static var h5Type: H5ElementType { .float32 } }
extension Double: H5Element { public static var h5Type: H5ElementType { .float64 } }
extension Int32: H5Element { public static var h5Type: H5ElementType { .int32 } }
extension Int64: H5Element { public static var h5Type: H5ElementType { .int64 } }
extension UInt8: H5Element { public static var h5Type: H5ElementType { .uint8 } }

extension H5ElementType {
    /// The in-memory type handed to H5Dwrite/H5Dread (a predefined id: never closed).
    var memoryType: hid_t {
        switch self {
        case .float32: chdf5_native_float()
        case .float64: chdf5_native_double()
        case .int32: chdf5_native_int32()
        case .int64: chdf5_native_int64()
        case .uint8: chdf5_native_uint8()
        }
    }

    /// The file type: fixed little-endian so files are identical whatever machine wrote them.
    var fileType: hid_t {
        switch self {
        case .float32: chdf5_ieee_f32le()
        case .float64: chdf5_ieee_f64le()
        case .int32: chdf5_std_i32le()
        case .int64: chdf5_std_i64le()
        case .uint8: chdf5_std_u8le()
        }
    }

    var isFloat: Bool { self == .float32 || self == .float64 }
    var isSigned: Bool { self != .uint8 }

    var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        case .uint8: 1
        }
    }
}

/// What a stored HDF5 datatype is, in terms a user recognises ("float64", "uint16", "string").
struct StoredType {
    let typeClass: H5T_class_t
    let size: Int
    let signed: Bool

    init(_ type: hid_t) {
        typeClass = H5Tget_class(type)
        size = H5Tget_size(type)
        signed = typeClass == H5T_INTEGER && H5Tget_sign(type) != H5T_SGN_NONE
    }

    var name: String {
        switch typeClass {
        case H5T_FLOAT: return "float\(size * 8)"
        case H5T_INTEGER: return (signed ? "int" : "uint") + "\(size * 8)"
        case H5T_STRING: return "string"
        case H5T_ENUM: return "enum"
        case H5T_COMPOUND: return "compound"
        case H5T_ARRAY: return "array"
        case H5T_VLEN: return "variable-length sequence"
        case H5T_BITFIELD: return "bitfield"
        case H5T_OPAQUE: return "opaque"
        case H5T_REFERENCE: return "reference"
        default: return "unknown type"
        }
    }

    /// Whether HDF5's conversion to `target` is acceptable. Floats convert either way
    /// (float64 -> Float rounds to nearest: checkpoints stored in double load into float
    /// models). Integers only widen, because HDF5 silently clamps on narrowing.
    func canBeRead(as target: H5ElementType) -> Bool {
        switch typeClass {
        case H5T_FLOAT:
            return target.isFloat
        case H5T_INTEGER:
            guard !target.isFloat else { return false }
            if signed { return target.isSigned && target.byteSize >= size }
            return target.isSigned ? target.byteSize > size : target.byteSize >= size
        default:
            return false
        }
    }
}

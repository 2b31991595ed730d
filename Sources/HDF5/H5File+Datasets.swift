import CHDF5

/// How a dataset is laid out on disk (for checks and diagnostics).
public struct H5StorageLayout: Equatable, Sendable {
    /// The chunk shape, or `nil` for contiguous/compact storage.
    public let chunkShape: [Int]?
    /// The deflate (gzip) level, or `nil` when the dataset is not deflate-compressed.
    public let deflateLevel: Int?
    /// Whether every chunk carries a Fletcher-32 checksum (checked by HDF5 on every read).
    public let checksummed: Bool

    public init(chunkShape: [Int]?, deflateLevel: Int?, checksummed: Bool = false) {
        self.chunkShape = chunkShape
        self.deflateLevel = deflateLevel
        self.checksummed = checksummed
    }
}

extension H5File {
    /// Datasets with at least this many elements are chunked and deflate-compressed.
    public static let compressionThreshold = 4096
    /// Upper bound on one chunk's size: small enough to decompress cheaply on partial reads.
    static let targetChunkBytes = 1 << 20
    static let deflateLevel: UInt32 = 4

    /// Writes `values` (row-major) as a dataset of the given shape, creating parent groups.
    /// `shape: []` writes a scalar (rank 0) dataset holding one value. An existing dataset
    /// at `path` is replaced (HDF5 does not reclaim its space; fresh files stay compact).
    ///
    ///     try f.write("params/transformer.h.0.ln_1.weight", gamma, shape: [768])
    public func write<T: H5Element>(_ path: String, _ values: [T], shape: [Int]) throws {
        let parts = Self.components(path)
        let name = Self.join(parts)
        let fileID = try writableID(name)
        guard !parts.isEmpty else { throw H5Error(file: self.path, object: name, message: "cannot write a dataset at the root group") }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw H5Error(file: self.path, object: name, message: "negative dimension in shape \(shape)")
        }
        let count = shape.reduce(1, *)
        guard count == values.count else {
            throw H5Error(file: self.path, object: name,
                          message: "\(values.count) values do not match shape \(shape) (\(count) elements)")
        }
        try requireParentGroups(parts)
        if let existing = objectType(parts) {
            guard existing == H5I_DATASET else {
                throw H5Error(file: self.path, object: name, message: "is a group; cannot replace it with a dataset")
            }
            guard H5Ldelete(fileID, name, chdf5_p_default()) >= 0 else { throw hdf5Failure(name, "cannot replace dataset") }
        }

        var dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil)
        guard space >= 0 else { throw hdf5Failure(name, "cannot create dataspace for shape \(shape)") }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(chdf5_p_dataset_create())
        defer { H5Pclose(dcpl) }
        // Every non-empty array is chunked so that each chunk carries a Fletcher-32 checksum: a
        // flipped bit anywhere in the data is a read error, not a silently different number.
        // (Scalars cannot be chunked; HDF5 keeps them in the object header.)
        if count > 0, !shape.isEmpty {
            var chunk = Self.chunkShape(for: shape, elementSize: T.h5Type.byteSize).map { hsize_t($0) }
            H5Pset_chunk(dcpl, Int32(chunk.count), &chunk)
            if count >= Self.compressionThreshold { H5Pset_deflate(dcpl, Self.deflateLevel) }
            H5Pset_fletcher32(dcpl)
        }
        let lcpl = Self.makeLinkCreatePlist()
        defer { H5Pclose(lcpl) }
        let dataset = H5Dcreate2(fileID, name, T.h5Type.fileType, space, lcpl, dcpl, chdf5_p_default())
        guard dataset >= 0 else { throw hdf5Failure(name, "cannot create dataset") }
        defer { H5Dclose(dataset) }
        // An empty dataset has nothing to write, and H5Dwrite rejects a null buffer.
        guard count > 0 else { return }
        let status = values.withUnsafeBytes {
            H5Dwrite(dataset, T.h5Type.memoryType, H5S_ALL, H5S_ALL, chdf5_p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw hdf5Failure(name, "cannot write dataset") }
    }

    /// Reads a whole dataset as `T`, with its shape (`[]` for a scalar).
    ///
    ///     let (w, shape) = try f.read("params/w", as: Float.self)
    ///
    /// The stored type must be of the same kind: float data reads as `Float` or `Double`
    /// (float64 -> `Float` rounds to nearest); integer data reads only into a type that
    /// holds every stored value (int32 -> `Int64` works, int64 -> `Int32` throws).
    public func read<T: H5Element>(_ path: String, as type: T.Type = T.self) throws -> (values: [T], shape: [Int]) {
        let (name, dataset) = try openDataset(path)
        defer { H5Dclose(dataset) }
        let fileType = H5Dget_type(dataset)
        guard fileType >= 0 else { throw hdf5Failure(name, "cannot read datatype") }
        let stored = StoredType(fileType)
        H5Tclose(fileType)
        guard stored.canBeRead(as: T.h5Type) else {
            throw H5Error(file: self.path, object: name, message: "stored as \(stored.name), cannot be read as \(T.self)")
        }
        let shape = try datasetShape(dataset, name)
        let count = shape.reduce(1, *)
        guard count > 0 else { return ([], shape) }
        var status: herr_t = 0
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = H5Dread(dataset, T.h5Type.memoryType, H5S_ALL, H5S_ALL, chdf5_p_default(), buffer.baseAddress)
            initialized = status >= 0 ? count : 0
        }
        guard status >= 0 else { throw hdf5Failure(name, "cannot read dataset") }
        return (values, shape)
    }

    /// The shape of a dataset (`[]` for a scalar).
    ///
    ///     try f.shape(of: "params/w")  // [768, 2304]
    public func shape(of path: String) throws -> [Int] {
        let (name, dataset) = try openDataset(path)
        defer { H5Dclose(dataset) }
        return try datasetShape(dataset, name)
    }

    /// The chunking and compression of a dataset.
    ///
    ///     try f.storageLayout(of: "params/wte.weight").deflateLevel  // 4
    public func storageLayout(of path: String) throws -> H5StorageLayout {
        let (name, dataset) = try openDataset(path)
        defer { H5Dclose(dataset) }
        let dcpl = H5Dget_create_plist(dataset)
        guard dcpl >= 0 else { throw hdf5Failure(name, "cannot read storage properties") }
        defer { H5Pclose(dcpl) }
        var chunkShape: [Int]?
        if H5Pget_layout(dcpl) == H5D_CHUNKED {
            var dims = [hsize_t](repeating: 0, count: 32)  // H5S_MAX_RANK
            let rank = H5Pget_chunk(dcpl, Int32(dims.count), &dims)
            if rank > 0 { chunkShape = dims.prefix(Int(rank)).map { Int($0) } }
        }
        var deflateLevel: Int?, checksummed = false
        for index in 0..<max(H5Pget_nfilters(dcpl), 0) {
            var flags: UInt32 = 0
            var valueCount = 8
            var values = [UInt32](repeating: 0, count: valueCount)
            var config: UInt32 = 0
            let filter = H5Pget_filter2(dcpl, UInt32(index), &flags, &valueCount, &values, 0, nil, &config)
            if filter == chdf5_filter_deflate() {
                deflateLevel = valueCount > 0 ? Int(values[0]) : 0
            }
            if filter == chdf5_filter_fletcher32() { checksummed = true }
        }
        return H5StorageLayout(chunkShape: chunkShape, deflateLevel: deflateLevel, checksummed: checksummed)
    }

    // MARK: - Internal

    /// Halves leading dimensions first, so a chunk is a run of whole trailing rows: reading
    /// a slice of rows (an embedding lookup, a layer of a stacked tensor) touches few chunks.
    static func chunkShape(for shape: [Int], elementSize: Int) -> [Int] {
        var chunk = shape.map { max($0, 1) }
        for dim in chunk.indices {
            while chunk.reduce(elementSize, *) > targetChunkBytes, chunk[dim] > 1 {
                chunk[dim] = (chunk[dim] + 1) / 2
            }
        }
        return chunk
    }

    func openDataset(_ path: String) throws -> (name: String, id: hid_t) {
        let parts = Self.components(path)
        let name = Self.join(parts)
        let fileID = try openID(name)
        switch objectType(parts) {
        case H5I_DATASET?: break
        case nil: throw H5Error(file: self.path, object: name, message: "no such dataset")
        default: throw H5Error(file: self.path, object: name, message: "is a group, not a dataset")
        }
        let dataset = H5Dopen2(fileID, name, chdf5_p_default())
        guard dataset >= 0 else { throw hdf5Failure(name, "cannot open dataset") }
        return (name, dataset)
    }

    func datasetShape(_ dataset: hid_t, _ name: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw hdf5Failure(name, "cannot read dataspace") }
        defer { H5Sclose(space) }
        return try dataspaceShape(space, name)
    }

    /// `[]` for a scalar; a null dataspace (no data at all) is an error.
    func dataspaceShape(_ space: hid_t, _ name: String) throws -> [Int] {
        switch H5Sget_simple_extent_type(space) {
        case H5S_SCALAR:
            return []
        case H5S_SIMPLE:
            let rank = H5Sget_simple_extent_ndims(space)
            guard rank >= 0 else { throw hdf5Failure(name, "cannot read dataspace") }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            H5Sget_simple_extent_dims(space, &dims, nil)
            return dims.map { Int($0) }
        default:
            throw H5Error(file: self.path, object: name, message: "has an empty (null) dataspace")
        }
    }
}

import Foundation
import HDF5
import Testing

/// One shape per rank 0...4.
let shapesByRank: [[Int]] = [[], [5], [3, 4], [2, 3, 4], [2, 3, 2, 2]]
/// Over `H5File.compressionThreshold` elements, so it must come back chunked and deflated.
let largeShape = [64, 100]

private func roundTrip<T: H5Element & Equatable>(_ type: T.Type, _ make: (Int) -> T) throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("roundtrip.h5").path
        let shapes = shapesByRank + [largeShape]
        let f = try H5File.create(path)
        for (index, shape) in shapes.enumerated() {
            let values = (0..<shape.reduce(1, *)).map(make)
            try f.write("data/rank\(index)", values, shape: shape)
        }
        try f.close()

        let g = try H5File.open(path)
        for (index, shape) in shapes.enumerated() {
            let (values, readShape) = try g.read("data/rank\(index)", as: T.self)
            #expect(readShape == shape)
            #expect(values == (0..<shape.reduce(1, *)).map(make), "\(T.self) rank \(shape.count)")
            #expect(try g.shape(of: "data/rank\(index)") == shape)
        }
        let large = try g.storageLayout(of: "data/rank\(shapes.count - 1)")
        #expect(large.deflateLevel == 4)
        #expect(large.chunkShape != nil && large.checksummed)
        // Small arrays are one uncompressed chunk, still checksummed; scalars cannot be chunked.
        let small = try g.storageLayout(of: "data/rank2")
        #expect(small == H5StorageLayout(chunkShape: shapesByRank[2].map { max($0, 1) }, deflateLevel: nil, checksummed: true))
        #expect(try g.storageLayout(of: "data/rank0") == H5StorageLayout(chunkShape: nil, deflateLevel: nil))
    }
}

@Test func aFlippedBitInDataIsAReadError() throws {
    try withTempDir { dir in
        // Uncompressed data (below the deflate threshold), so only the checksum can notice the flip.
        let path = dir.appendingPathComponent("flip.h5").path
        let values = (0..<1000).map { Float($0) * 0.25 + 1 }
        let f = try H5File.create(path)
        try f.write("w", values, shape: [1000])
        try f.close()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let pattern = withUnsafeBytes(of: values[500]) { Array($0) }
        let at = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == pattern })
        bytes[at] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: H5Error.self) { _ = try H5File.open(path).read("w", as: Float.self) }
    }
}

@Test func roundTripFloatAllRanks() throws {
    let specials: [Float] = [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 1e-30]
    try roundTrip(Float.self) { $0 < specials.count ? specials[$0] : Float($0) * 0.25 - 7 }
}

@Test func roundTripDoubleAllRanks() throws {
    let specials: [Double] = [.pi, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
    try roundTrip(Double.self) { $0 < specials.count ? specials[$0] : Double($0) / 3 }
}

@Test func roundTripInt32AllRanks() throws {
    let specials: [Int32] = [.min, .max, -1]
    try roundTrip(Int32.self) { $0 < specials.count ? specials[$0] : Int32($0) * 7 - 1000 }
}

@Test func roundTripInt64AllRanks() throws {
    let specials: [Int64] = [.min, .max, -1]
    try roundTrip(Int64.self) { $0 < specials.count ? specials[$0] : Int64($0) << 33 }
}

@Test func roundTripUInt8AllRanks() throws {
    try roundTrip(UInt8.self) { UInt8(truncatingIfNeeded: $0 * 37) }
}

@Test func emptyDatasetRoundTrips() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("empty.h5").path
        let f = try H5File.create(path)
        try f.write("empty", [Float](), shape: [0, 3])
        let (values, shape) = try f.read("empty", as: Float.self)
        #expect(values.isEmpty)
        #expect(shape == [0, 3])
    }
}

@Test func largeDatasetChunksStayUnderOneMebibyte() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("big.h5").path
        let f = try H5File.create(path)
        let values = (0..<(1024 * 512)).map { Float($0 % 1000) }
        try f.write("wte.weight", values, shape: [1024, 512])
        let layout = try f.storageLayout(of: "wte.weight")
        let chunk = try #require(layout.chunkShape)
        #expect(chunk.reduce(4, *) <= 1 << 20)
        #expect(chunk.last == 512, "chunks should hold whole rows")
        #expect(layout.deflateLevel == 4)
        try f.close()
        // Repetitive data must actually shrink on disk: proves the filter ran.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < values.count * 4 / 4)
        #expect(try H5File.open(path).read("wte.weight", as: Float.self).values == values)
    }
}

@Test func compatibleTypesConvertOnRead() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("convert.h5").path
        let f = try H5File.create(path)
        try f.write("f32", [1.5, -2] as [Float], shape: [2])
        try f.write("f64", [0.1, 3] as [Double], shape: [2])
        try f.write("i32", [-5, 6] as [Int32], shape: [2])
        try f.write("u8", [200, 7] as [UInt8], shape: [2])
        #expect(try f.read("f32", as: Double.self).values == [1.5, -2])
        #expect(try f.read("f64", as: Float.self).values == [Float(0.1), 3])
        #expect(try f.read("i32", as: Int64.self).values == [-5, 6])
        #expect(try f.read("u8", as: Int32.self).values == [200, 7])
        #expect(try f.read("u8", as: Int64.self).values == [200, 7])
    }
}

@Test func nestedGroupsChildrenAndDottedNames() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("groups.h5").path
        let f = try H5File.create(path)
        let names = ["transformer.h.0.ln_1.weight", "transformer.h.0.attn.c_attn.weight", "lm_head.weight"]
        for name in names { try f.write("params/\(name)", [1, 2] as [Float], shape: [2]) }
        try f.write("/activations/layer0/block.out", [3] as [Float], shape: [])
        try f.createGroup("metrics/train")
        try f.createGroup("metrics/train")  // idempotent
        try f.createGroup("metrics//eval/")

        #expect(try f.children() == ["activations", "metrics", "params"])
        #expect(try f.children(of: "/") == ["activations", "metrics", "params"])
        #expect(try f.children(of: "params") == names.sorted())
        #expect(try f.children(of: "metrics") == ["eval", "train"])
        #expect(try f.children(of: "metrics/train").isEmpty)
        #expect(try f.children(of: "activations/layer0") == ["block.out"])
        #expect(f.isGroup("/") && f.isGroup("params") && f.isGroup("activations/layer0"))
        #expect(!f.isGroup("params/lm_head.weight") && f.isDataset("params/lm_head.weight"))
        #expect(f.exists("params/transformer.h.0.ln_1.weight"))
        #expect(f.exists("/params/transformer.h.0.ln_1.weight/"))
        #expect(!f.exists("params/transformer.h.0"))
        #expect(!f.exists("nope/deeper/still"))
        #expect(!f.isGroup("nope") && !f.isDataset("nope"))
        #expect(try f.read("activations/layer0/block.out", as: Float.self) == ([3], []))
    }
}

@Test func rewritingADatasetReplacesIt() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("rewrite.h5").path
        let f = try H5File.create(path)
        try f.write("w", [1, 2, 3] as [Float], shape: [3])
        try f.write("w", [9, 8, 7, 6] as [Int32], shape: [2, 2])
        #expect(try f.read("w", as: Int32.self) == ([9, 8, 7, 6], [2, 2]))
        try f.close()
        // Reopening writable keeps existing content and allows additions.
        let g = try H5File.open(path, writable: true)
        try g.write("extra", [1] as [UInt8], shape: [1])
        #expect(try g.children() == ["extra", "w"])
    }
}

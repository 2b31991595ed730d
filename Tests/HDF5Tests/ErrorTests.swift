import Foundation
import HDF5
import Testing

/// Writes a small but real HDF5 file and returns its path.
private func makeValidFile(in dir: URL, name: String = "checkpoint.h5") throws -> String {
    let path = dir.appendingPathComponent(name).path
    let f = try H5File.create(path)
    try f.write("params/w", (0..<1000).map(Float.init), shape: [10, 100])
    try f.setAttribute("step", .int(7))
    try f.close()
    return path
}

@Test func missingFileAndDirectory() throws {
    try withTempDir { dir in
        let missing = dir.appendingPathComponent("nope.h5").path
        expectH5Error(containing: [missing, "no such file"]) { _ = try H5File.open(missing) }
        expectH5Error(containing: [dir.path, "directory"]) { _ = try H5File.open(dir.path) }
        let nowhere = dir.appendingPathComponent("no/such/dir/out.h5").path
        expectH5Error(containing: [nowhere, "does not exist"]) { _ = try H5File.create(nowhere) }
    }
}

@Test func truncatedFileIsRejected() throws {
    try withTempDir { dir in
        let path = try makeValidFile(in: dir)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: size / 2)
        try handle.close()
        expectH5Error(containing: [path, "not a valid HDF5 file (truncated or corrupt)"]) { _ = try H5File.open(path) }
    }
}

@Test func corruptOrForeignFilesAreRejected() throws {
    try withTempDir { dir in
        let corrupt = try makeValidFile(in: dir)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: corrupt))
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: Data(repeating: 0xAB, count: 64))
        try handle.close()
        expectH5Error(containing: [corrupt, "not a valid HDF5 file"]) { _ = try H5File.open(corrupt) }

        let text = dir.appendingPathComponent("notes.h5").path
        try Data("just some text\n".utf8).write(to: URL(fileURLWithPath: text))
        expectH5Error(containing: [text, "not a valid HDF5 file"]) { _ = try H5File.open(text) }

        let empty = dir.appendingPathComponent("empty.h5").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        expectH5Error(containing: [empty, "not a valid HDF5 file"]) { _ = try H5File.open(empty, writable: true) }
    }
}

@Test func datasetErrorsNameFileAndObject() throws {
    try withTempDir { dir in
        let path = try makeValidFile(in: dir)
        let f = try H5File.open(path)
        expectH5Error(containing: [path, "params/w", "float32", "Int64"]) { _ = try f.read("params/w", as: Int64.self) }
        expectH5Error(containing: [path, "params/missing", "no such dataset"]) { _ = try f.read("params/missing", as: Float.self) }
        expectH5Error(containing: [path, "nope/deeper", "no such dataset"]) { _ = try f.shape(of: "nope/deeper") }
        expectH5Error(containing: [path, "params", "is a group"]) { _ = try f.read("params", as: Float.self) }
        expectH5Error(containing: [path, "params/w", "read-only"]) { try f.write("params/w", [1] as [Float], shape: [1]) }
        expectH5Error(containing: [path, "step", "read-only"]) { try f.setAttribute("step", .int(8)) }
        expectH5Error(containing: [path, "params/w", "not a group"]) { _ = try f.children(of: "params/w") }
        expectH5Error(containing: [path, "absent", "no such group"]) { _ = try f.children(of: "absent") }
        try f.close()
        expectH5Error(containing: [path, "closed"]) { _ = try f.read("params/w", as: Float.self) }
    }
}

@Test func narrowingIntegerReadsAreRejected() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("ints.h5").path
        let f = try H5File.create(path)
        try f.write("big", [Int64.max], shape: [1])
        try f.write("signed", [-1] as [Int32], shape: [1])
        expectH5Error(containing: [path, "big", "int64", "Int32"]) { _ = try f.read("big", as: Int32.self) }
        expectH5Error(containing: [path, "signed", "int32", "UInt8"]) { _ = try f.read("signed", as: UInt8.self) }
        expectH5Error(containing: [path, "big", "int64", "Float"]) { _ = try f.read("big", as: Float.self) }
    }
}

@Test func writeErrors() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("write.h5").path
        let f = try H5File.create(path)
        expectH5Error(containing: [path, "w", "5 values", "[2, 3]"]) { try f.write("w", [Float](repeating: 0, count: 5), shape: [2, 3]) }
        expectH5Error(containing: [path, "scalar", "2 values", "[]"]) { try f.write("scalar", [1, 2] as [Int32], shape: []) }
        expectH5Error(containing: [path, "neg", "negative"]) { try f.write("neg", [Float](), shape: [-1, 0]) }
        try f.write("a", [1] as [Float], shape: [1])
        expectH5Error(containing: [path, "a/b", "a is a dataset"]) { try f.write("a/b", [1] as [Float], shape: [1]) }
        expectH5Error(containing: [path, "a/b", "a is a dataset"]) { try f.createGroup("a/b") }
        expectH5Error(containing: [path, "a", "is a dataset, not a group"]) { try f.createGroup("a") }
        try f.createGroup("g")
        expectH5Error(containing: [path, "g", "is a group"]) { try f.write("g", [1] as [Float], shape: [1]) }
        expectH5Error(containing: [path, "/", "root"]) { try f.write("/", [1] as [Float], shape: [1]) }
        expectH5Error(containing: [path, "NUL"]) { try f.setAttribute("s", .string("a\u{0}b")) }
        #expect(!f.exists("w") && !f.exists("scalar") && !f.exists("a/b"))
    }
}

@Test func missingAttributeNamesFileObjectAndAttribute() throws {
    try withTempDir { dir in
        let path = try makeValidFile(in: dir)
        let f = try H5File.open(path)
        expectH5Error(containing: [path, "params/w", "\"lr\""]) { _ = try f.attribute("lr", of: "params/w") }
        expectH5Error(containing: [path, "/", "\"lr\""]) { _ = try f.doubleAttribute("lr") }
        expectH5Error(containing: [path, "ghost", "no such group or dataset", "\"lr\""]) { _ = try f.attribute("lr", of: "ghost") }
        expectH5Error(containing: [path, "ghost", "no such group or dataset"]) { _ = try f.attributeNames(of: "ghost") }
    }
}

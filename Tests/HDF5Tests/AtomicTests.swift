import Foundation
import HDF5
import Testing

private struct Boom: Error {}

@Test func atomicWriteReplacesAndFailureLeavesOldFileIntact() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("ckpt.h5").path
        try H5File.writeAtomically(to: path) { f in
            try f.write("params/w", [1, 2, 3] as [Float], shape: [3])
            try f.setAttribute("step", .int(100))
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        #expect(throws: Boom.self) {
            try H5File.writeAtomically(to: path) { f in
                try f.write("params/w", [9, 9, 9] as [Float], shape: [3])
                throw Boom()
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.h5"])

        // An HDF5 error inside the body behaves the same way.
        expectH5Error(containing: ["ckpt.h5.tmp-", "3 values"]) {
            try H5File.writeAtomically(to: path) { f in try f.write("w", [1, 2, 3] as [Float], shape: [2]) }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.h5"])

        try H5File.writeAtomically(to: path) { f in try f.setAttribute("step", .int(200)) }
        let g = try H5File.open(path)
        #expect(try g.intAttribute("step") == 200)
        #expect(!g.exists("params/w"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.h5"])
    }
}

@Test func replaceAtomicallyForPlainFiles() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("metrics.json").path
        try replaceAtomically(path) { tmp in try Data("{\"a\": 1}".utf8).write(to: URL(fileURLWithPath: tmp)) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"a\": 1}")

        #expect(throws: Boom.self) {
            try replaceAtomically(path) { tmp in
                try Data("partial".utf8).write(to: URL(fileURLWithPath: tmp))
                throw Boom()
            }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"a\": 1}")
        expectH5Error(containing: [path, "did not produce"]) { try replaceAtomically(path) { _ in } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["metrics.json"])
    }
}

import Foundation
import HDF5
import Testing

/// The file both external readers check: every element type, a compressed dataset, dotted
/// names, and every attribute kind.
private func writeInteropFile(_ path: String) throws {
    try H5File.writeAtomically(to: path) { f in
        try f.write("params/transformer.h.0.ln_1.weight", [1, 2, 3, 4.5] as [Float], shape: [4])
        try f.write("params/big", (0..<6400).map { Float($0) * 0.5 }, shape: [64, 100])
        try f.write("ints/i64", [-1, 0, 1, Int64.max, Int64.min, 42] as [Int64], shape: [2, 3])
        try f.write("ints/i32", [7] as [Int32], shape: [])
        try f.write("ints/u8", [0, 128, 255] as [UInt8], shape: [3])
        try f.write("f64", (0..<8).map { Double($0) / 4 }, shape: [2, 2, 2])
        try f.setAttribute("step", .int(1000))
        try f.setAttribute("lr", .double(3e-4))
        try f.setAttribute("model", .string("nanogpt-baby"))
        try f.setAttribute("dims", .ints([1, 2, 3]))
        try f.setAttribute("losses", .doubles([0.5, 0.25]))
        try f.setAttribute("names", .strings(["a", "béta"]), on: "params")
        try f.setAttribute("source", .string("torch ✓"), on: "params/big")
    }
}

@Test(.enabled(if: h5dumpAvailable, "h5dump not installed (apt-get install hdf5-tools)"))
func h5dumpReadsWrittenFile() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("dump.h5").path
        try writeInteropFile(path)
        let (status, output) = try runProcess(h5dumpPath, ["-p", path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("transformer.h.0.ln_1.weight"))
        #expect(output.contains("4.5"))
        #expect(output.contains("COMPRESSION DEFLATE { LEVEL 4 }"))
        #expect(output.contains("nanogpt-baby"))
        #expect(output.contains("9223372036854775807"))
    }
}

private let h5pyCheck = """
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
w = f["params/transformer.h.0.ln_1.weight"]
assert w.dtype == np.float32 and w.shape == (4,), (w.dtype, w.shape)
assert w[()].tolist() == [1, 2, 3, 4.5]
b = f["params/big"]
assert b.compression == "gzip" and b.compression_opts == 4 and b.chunks is not None
assert np.array_equal(b[()], (np.arange(6400, dtype=np.float32) * 0.5).reshape(64, 100))
i64 = f["ints/i64"][()]
assert i64.dtype == np.int64 and i64.tolist() == [[-1, 0, 1], [2**63 - 1, -2**63, 42]], i64
i32 = f["ints/i32"]
assert i32.shape == () and i32.dtype == np.int32 and i32[()] == 7
u8 = f["ints/u8"][()]
assert u8.dtype == np.uint8 and u8.tolist() == [0, 128, 255]
d = f["f64"][()]
assert d.dtype == np.float64 and np.array_equal(d, (np.arange(8) / 4).reshape(2, 2, 2))
a = f.attrs
assert a["step"] == 1000 and a["lr"] == 3e-4
assert isinstance(a["model"], str) and a["model"] == "nanogpt-baby", repr(a["model"])
assert a["dims"].tolist() == [1, 2, 3] and a["losses"].tolist() == [0.5, 0.25]
names = f["params"].attrs["names"]
assert [type(n) for n in names] == [str, str] and list(names) == ["a", "béta"], repr(names)
assert f["params/big"].attrs["source"] == "torch ✓"
assert sorted(f["params"].keys()) == ["big", "transformer.h.0.ln_1.weight"]
print("h5py OK")
"""

@Test(.enabled(if: h5pyAvailable, "h5py not importable by python3 (pip install h5py)"))
func h5pyReadsWrittenFile() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("py.h5").path
        try writeInteropFile(path)
        let (status, output) = try runPython(["-c", h5pyCheck, path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("h5py OK"))
    }
}

@Test(.enabled(if: h5pyAvailable, "h5py not importable by python3 (pip install h5py)"))
func readsFileWrittenByH5py() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("from-py.h5").path
        let script = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            f["model/wte.weight"] = np.arange(12, dtype=np.float32).reshape(3, 4)
            f.create_dataset("z", data=np.arange(5000, dtype=np.int64), compression="gzip")
            f.attrs["name"] = "gpt"
            f.attrs["fixed"] = np.bytes_(b"abc")
            f.attrs["vals"] = np.array([1.5, 2.5], dtype=np.float32)
            f.attrs["n"] = np.int32(3)
        """
        let (status, output) = try runPython(["-c", script, path])
        try #require(status == 0, "\(output)")
        let f = try H5File.open(path)
        #expect(try f.read("model/wte.weight", as: Float.self) == ((0..<12).map(Float.init), [3, 4]))
        #expect(try f.read("z", as: Int64.self).values == (0..<5000).map(Int64.init))
        #expect(try f.attribute("name") == .string("gpt"))
        #expect(try f.attribute("fixed") == .string("abc"))
        #expect(try f.attribute("vals") == .doubles([1.5, 2.5]))
        #expect(try f.attribute("n") == .int(3))
    }
}

import Foundation
import HDF5
import Testing

let allAttributeKinds: [String: H5Attribute] = [
    "int": .int(-1234567890123),
    "double": .double(3e-4),
    "string": .string("nanogpt-baby ✓ 中文"),
    "ints": .ints([1, -2, .max]),
    "doubles": .doubles([0.5, -.infinity, 1e300]),
    "strings": .strings(["a", "béta", ""]),
    "empty_ints": .ints([]),
    "empty_strings": .strings([]),
    "one_int": .ints([5]),
    "empty_string": .string(""),
]

@Test(arguments: ["/", "group/sub", "group/sub/data.set"])
func everyAttributeKindRoundTrips(on object: String) throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("attrs.h5").path
        let f = try H5File.create(path)
        try f.createGroup("group/sub")
        try f.write("group/sub/data.set", [1, 2] as [Double], shape: [2])
        for (name, value) in allAttributeKinds { try f.setAttribute(name, value, on: object) }
        try f.close()

        let g = try H5File.open(path)
        for (name, value) in allAttributeKinds { #expect(try g.attribute(name, of: object) == value, "\(name)") }
        #expect(try g.attributeNames(of: object) == allAttributeKinds.keys.sorted())
    }
}

@Test func attributesOverwriteAndTypedGetters() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("typed.h5").path
        let f = try H5File.create(path)
        try f.setAttribute("step", .int(1))
        try f.setAttribute("step", .int(2))
        #expect(try f.intAttribute("step") == 2)
        try f.setAttribute("step", .string("done"))  // a different kind replaces too
        #expect(try f.stringAttribute("step") == "done")
        #expect(try f.attributeNames() == ["step"])

        try f.write("w", [1] as [Float], shape: [1])
        try f.setAttribute("lr", .double(0.25), on: "w")
        try f.setAttribute("epochs", .int(3), on: "w")
        try f.setAttribute("dims", .ints([4, 8]), on: "w")
        try f.setAttribute("loss", .doubles([2.5, 1.5]), on: "w")
        try f.setAttribute("names", .strings(["x", "y"]), on: "w")
        #expect(try f.doubleAttribute("lr", of: "w") == 0.25)
        #expect(try f.doubleAttribute("epochs", of: "w") == 3)
        #expect(try f.intsAttribute("dims", of: "w") == [4, 8])
        #expect(try f.doublesAttribute("loss", of: "w") == [2.5, 1.5])
        #expect(try f.stringsAttribute("names", of: "w") == ["x", "y"])
        expectH5Error(containing: [path, "w", "\"lr\"", "not an integer"]) {
            _ = try f.intAttribute("lr", of: "w")
        }
    }
}

@Test func largeStringAttribute() throws {
    try withTempDir { dir in
        let path = dir.appendingPathComponent("big-attr.h5").path
        // Over the 64 KiB limit of compact attribute storage in the oldest file format.
        let config = String(repeating: "{\"n_layer\": 12}, ", count: 10_000)
        let f = try H5File.create(path)
        try f.setAttribute("config", .string(config))
        try f.setAttribute("many", .doubles((0..<20_000).map(Double.init)))
        try f.close()
        let g = try H5File.open(path)
        #expect(try g.stringAttribute("config") == config)
        #expect(try g.doublesAttribute("many").count == 20_000)
    }
}

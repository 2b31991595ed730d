@_exported import TensorCore
@_exported import NN
@_exported import Datasets
@_exported import HDF5
@_exported import Plots
@_exported import Reporting

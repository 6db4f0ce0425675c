"""Image -> vector: face crops, LBP, colour LBP, Fourier, distortion and metadata features."""

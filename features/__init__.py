"""Image -> vector: face crops, LBP, colour-texture LBP, Fourier spectra, image-distortion and metadata features."""

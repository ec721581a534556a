"""Evaluation metrics of the paper's section 4 (MSE, PSNR, SSIM, FID) plus the "moving part"
PSNR, all on sRGB images in [0, 1]."""

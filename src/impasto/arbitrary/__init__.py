"""Any painting in one pass: an arbitrary-style feed-forward network (Huang & Belongie 2017).

The project's VGG-19 (the normalised Caffe network of the default look) encodes the photo and
the painting up to relu4_1; AdaIN gives the photo's features the painting's per-channel mean
and spread; a trained decoder turns the result back into pixels. One decoder serves every
painting, so a person's own painting is painted in about the time of three VGG passes.

    from impasto import arbitrary
    model = arbitrary.load_decoder()                         # the shipped decoder
    img = arbitrary.stylize(model, "photo.jpg", ["painting.jpg"], alpha=1.0)
"""

"""Images in and out: decoding any common file safely, resizing, colour handling, atomic writes."""

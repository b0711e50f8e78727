"""Getting data in: COCO and YOLOv8-seg readers, image files, archives, the Hugging Face Hub, the synthetic
sample, observation metadata, provenance, and the load worker."""

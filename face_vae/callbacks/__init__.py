"""The Lightning callbacks of face_vae's own, each chosen in the `callbacks` config group (configs/callbacks/)."""

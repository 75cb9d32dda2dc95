"""The extras' data sources (data=folder, data=synthetic): each registers by its KIND as the core's do
(face_vae/core/data/sources/); face_vae/data/settings.py adds their settings and this package to where the core looks.
"""

"""A GiST index on (layer_id, geom) for the tile queries.

Every tile asks for the features of one layer in a box. With separate indexes on layer_id and
geom, PostgreSQL ANDs two bitmaps and reads every index entry of the layer (200,000 for a large
point layer) for each tile; the two-column index answers both conditions in one scan
(bench/tiles.py measures it). btree_gist supplies the GiST operator class for the bigint column;
it is a trusted extension (PostgreSQL 13+), created here if missing.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("layers", "0004_tile_settings"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS btree_gist",
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS tiles_feature_layer_geom "
            "ON layers_feature USING gist (layer_id, geom)",
            "DROP INDEX IF EXISTS tiles_feature_layer_geom",
        ),
    ]

from django.db import migrations

# Which features of an input layer lie in which area, per (areas layer version, input layer
# version): the spatial join every count / sum / mean / share needs, done once and shared by
# all indicators reading the same pair of layers (indicators.methods). A cache: UNLOGGED (no WAL;
# emptied after a crash, then refilled on demand), rows of other versions are deleted when a
# pair is refilled. A row with NULL area and feature marks a pair whose join found nothing.
MEMBERSHIP = """
CREATE UNLOGGED TABLE indicators_membership (
    areas_layer_id bigint NOT NULL,
    areas_version bigint NOT NULL,
    input_layer_id bigint NOT NULL,
    input_version bigint NOT NULL,
    area_id bigint,
    feature_id bigint
);
CREATE INDEX indicators_membership_key ON indicators_membership
    (areas_layer_id, input_layer_id, areas_version, input_version);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("indicators", "0003_audit_registry"),
    ]

    operations = [
        migrations.RunSQL(MEMBERSHIP, "DROP TABLE IF EXISTS indicators_membership"),
    ]

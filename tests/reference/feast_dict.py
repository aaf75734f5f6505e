#!/usr/bin/env python3
"""An independent reference for `regsync-dump json --project P`: what Feast's
`BaseRegistry.to_dict(project)` (and so `feast registry-dump`) prints, written in Python on
protobuf messages instead of JSON trees (regsync's C does the latter, registry/rs_feast_dict.c).

Feast turns each stored proto into its Python class (`from_proto`) and back (`to_proto`), prints
that with `MessageToJson(sort_keys=True)` and patches UDF bodies. This script does the same
round trip with the classes protoc generates from the project's proto/ (no Feast needed): each
`rt_*` function builds the message Feast's `to_proto` would build from what its `from_proto`
keeps, with Python's own datetime/timedelta doing the timestamp and duration round trips. The
rules are listed in docs/json.md ("Project mode").

usage: feast_dict.py PROTO_DIR WORK_DIR dump FILE... -> WORK_DIR/out/<basename>/<i>.json (projects.txt)
       feast_dict.py PROTO_DIR WORK_DIR plans LISTING   (`feast plan` text; lines A TAB B TAB PROJECT TAB OUT)
       feast_dict.py PROTO_DIR WORK_DIR variants GENERATED.db OUT_DIR
       (registries with an empty infra, unknown fields in objects, UDFs with source text)
Needs python3 with google.protobuf (Debian: python3-protobuf) and protoc.
"""
import datetime
import importlib
import json
import os
import subprocess
import sys

PROTO_DIR, WORK = sys.argv[1], sys.argv[2]
PY = os.path.join(WORK, "py")


def load_protos():
    os.makedirs(PY, exist_ok=True)
    protos = []
    for root, _, files in os.walk(PROTO_DIR):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), PROTO_DIR)
            if f.endswith(".proto") and not rel.startswith("google" + os.sep):
                protos.append(rel)
    subprocess.check_call(["protoc", "-I", PROTO_DIR, "--python_out=" + PY] + sorted(protos))
    for root, _, _ in os.walk(PY):
        if root != PY:
            open(os.path.join(root, "__init__.py"), "a").close()
    sys.path.insert(0, PY)


load_protos()
from google.protobuf import json_format, text_format  # noqa: E402
from google.protobuf.duration_pb2 import Duration  # noqa: E402

R = importlib.import_module("feast.core.Registry_pb2")
DS = importlib.import_module("feast.core.DataSource_pb2")
ENT = importlib.import_module("feast.core.Entity_pb2")
FEAT = importlib.import_module("feast.core.Feature_pb2")
FV = importlib.import_module("feast.core.FeatureView_pb2")
FS = importlib.import_module("feast.core.FeatureService_pb2")
FVP = importlib.import_module("feast.core.FeatureViewProjection_pb2")
ODFV = importlib.import_module("feast.core.OnDemandFeatureView_pb2")
SFV = importlib.import_module("feast.core.StreamFeatureView_pb2")
LV = importlib.import_module("feast.core.LabelView_pb2")
SD = importlib.import_module("feast.core.SavedDataset_pb2")
PERM = importlib.import_module("feast.core.Permission_pb2")
AGG = importlib.import_module("feast.core.Aggregation_pb2")
TR = importlib.import_module("feast.core.Transformation_pb2")
DFMT = importlib.import_module("feast.core.DataFormat_pb2")
SQL = importlib.import_module("feast.core.SqliteTable_pb2")
DST = importlib.import_module("feast.core.DatastoreTable_pb2")
INFRA = importlib.import_module("feast.core.InfraObject_pb2")

# ------------------------------------------------------------------ Python's own round trips


def ts_round_trip(src, dst):
    """Timestamp -> datetime (microseconds) -> Timestamp, as Feast's ToDatetime/FromDatetime."""
    dst.FromDatetime(src.ToDatetime())


def td(d):
    """Feast's `timedelta(0) if d.ToNanoseconds() == 0 else d.ToTimedelta()`."""
    return datetime.timedelta(0) if d.ToNanoseconds() == 0 else d.ToTimedelta()


def dur(t):
    d = Duration()
    d.FromTimedelta(t)
    return d


VT = importlib.import_module("feast.types.Value_pb2").ValueType


def field(f):
    """Field.from_proto then to_proto: a struct or nested collection without the tag naming its inner
    type gets Feast's placeholder type (Struct({"_value": String}), Array(Array(String)),
    Set(Array(String))), whose tag to_proto writes."""
    tags = dict(f.tags)
    vt = f.value_type
    if vt in (VT.STRUCT, VT.STRUCT_LIST) and "feast:struct_schema" not in tags:
        tags["feast:struct_schema"] = json.dumps({"_value": "STRING"})
    elif vt == VT.VALUE_LIST and "feast:nested_inner_type" not in tags:
        tags["feast:nested_inner_type"] = "Array(Array(STRING))"
    elif vt == VT.VALUE_SET and "feast:nested_inner_type" not in tags:
        tags["feast:nested_inner_type"] = "Set(Array(STRING))"
    return FEAT.FeatureSpecV2(name=f.name, value_type=f.value_type, description=f.description, tags=tags,
                              vector_index=f.vector_index, vector_length=f.vector_length,
                              vector_search_metric=f.vector_search_metric)


# ------------------------------------------------------------------ data sources

CLASSES = {
    "BATCH_FILE": "feast.infra.offline_stores.file_source.FileSource",
    "BATCH_BIGQUERY": "feast.infra.offline_stores.bigquery_source.BigQuerySource",
    "BATCH_REDSHIFT": "feast.infra.offline_stores.redshift_source.RedshiftSource",
    "BATCH_SNOWFLAKE": "feast.infra.offline_stores.snowflake_source.SnowflakeSource",
    "BATCH_TRINO": "feast.infra.offline_stores.contrib.trino_offline_store.trino_source.TrinoSource",
    "BATCH_SPARK": "feast.infra.offline_stores.contrib.spark_offline_store.spark_source.SparkSource",
    "BATCH_ATHENA": "feast.infra.offline_stores.contrib.athena_offline_store.athena_source.AthenaSource",
    "BATCH_ICEBERG": "feast.infra.data_sources.contrib.iceberg_catalog.iceberg_source.IcebergSource",
    "STREAM_KAFKA": "feast.data_source.KafkaSource",
    "STREAM_KINESIS": "feast.data_source.KinesisSource",
    "REQUEST_SOURCE": "feast.data_source.RequestSource",
    "PUSH_SOURCE": "feast.data_source.PushSource",
}
POSTGRES = "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource"


def file_format(f):
    kind = f.WhichOneof("format")
    if kind == "parquet_format":
        return DFMT.FileFormat(parquet_format=DFMT.FileFormat.ParquetFormat())
    if kind == "delta_format":
        out = DFMT.FileFormat()
        out.delta_format.SetInParent()
        return out
    return None


def stream_format(f):
    kind = f.WhichOneof("format")
    out = DFMT.StreamFormat()
    if kind == "avro_format":
        out.avro_format.schema_json = f.avro_format.schema_json
    elif kind == "json_format":
        out.json_format.schema_json = f.json_format.schema_json
    elif kind == "proto_format":
        out.proto_format.class_path = f.proto_format.class_path
    else:
        return None
    return out


def rt_data_source(d, serialized=False):
    """DataSource.from_proto(d).to_proto(); `serialized`: serialize_data_source (class path)."""
    t = DS.DataSource.SourceType.Name(d.type) if d.type in DS.DataSource.SourceType.values() else str(d.type)
    cls = CLASSES.get(t)
    o = DS.DataSource()
    known = True
    if t == "BATCH_FILE":
        o.file_options.SetInParent()
        ff = file_format(d.file_options.file_format)
        if ff is not None:
            o.file_options.file_format.CopyFrom(ff)
        o.file_options.uri = d.file_options.uri
        o.file_options.s3_endpoint_override = d.file_options.s3_endpoint_override
    elif t == "BATCH_BIGQUERY":
        o.bigquery_options.SetInParent()
        o.bigquery_options.table = d.bigquery_options.table
        o.bigquery_options.query = d.bigquery_options.query
        o.date_partition_column = d.date_partition_column
        o.timestamp_field_type = d.timestamp_field_type
    elif t == "BATCH_REDSHIFT":
        ro = d.redshift_options
        o.redshift_options.CopyFrom(DS.DataSource.RedshiftOptions(table=ro.table, schema=ro.schema, query=ro.query,
                                                                  database=ro.database))
    elif t == "BATCH_SNOWFLAKE":
        so = d.snowflake_options
        o.snowflake_options.CopyFrom(DS.DataSource.SnowflakeOptions(database=so.database, schema=so.schema,
                                                                    table=so.table, query=so.query))
    elif t == "BATCH_SPARK":
        sp = d.spark_options
        o.spark_options.CopyFrom(DS.DataSource.SparkOptions(table=sp.table, query=sp.query, path=sp.path,
                                                            file_format=sp.file_format,
                                                            date_partition_column_format=sp.date_partition_column_format))
        if sp.HasField("table_format"):
            o.spark_options.table_format.CopyFrom(sp.table_format)
        o.data_source_class_type = cls
        o.date_partition_column = d.date_partition_column
    elif t == "STREAM_KAFKA":
        ko = d.kafka_options
        o.kafka_options.kafka_bootstrap_servers = ko.kafka_bootstrap_servers
        o.kafka_options.topic = ko.topic
        sf = stream_format(ko.message_format)
        if sf is not None:
            o.kafka_options.message_format.CopyFrom(sf)
        o.kafka_options.watermark_delay_threshold.CopyFrom(dur(td(ko.watermark_delay_threshold)))
        if d.HasField("batch_source"):
            o.batch_source.MergeFrom(rt_data_source(d.batch_source))
    elif t == "STREAM_KINESIS":
        ko = d.kinesis_options
        o.kinesis_options.region = ko.region
        o.kinesis_options.stream_name = ko.stream_name
        sf = stream_format(ko.record_format)
        if sf is not None:
            o.kinesis_options.record_format.CopyFrom(sf)
        if d.HasField("batch_source"):
            o.batch_source.MergeFrom(rt_data_source(d.batch_source))
    elif t == "REQUEST_SOURCE":
        o.request_data_options.SetInParent()
        o.request_data_options.schema.extend(field(f) for f in d.request_data_options.schema)
    elif t == "PUSH_SOURCE":
        if d.HasField("batch_source"):
            b = rt_data_source(d.batch_source)
            o.timestamp_field = b.timestamp_field
            o.created_timestamp_column = b.created_timestamp_column
            o.field_mapping.update(b.field_mapping)
            o.date_partition_column = b.date_partition_column
            o.batch_source.MergeFrom(b)
    elif t == "CUSTOM_SOURCE" and d.data_source_class_type == POSTGRES:
        try:
            cfg = json.loads(d.custom_options.configuration.decode("utf8"))
            name, query, table = cfg["name"], cfg["query"], cfg["table"]
        except (ValueError, KeyError, TypeError):
            known = False
        else:
            o.custom_options.configuration = json.dumps({"name": name, "query": query, "table": table}).encode()
            o.data_source_class_type = POSTGRES
            o.name = name or ""
    else:
        known = False
    if not known:
        o = DS.DataSource()
        o.CopyFrom(d)
        o.ClearField("project")
        o.ClearField("meta")
        o.ClearField("tags")
        if not serialized and t != "CUSTOM_SOURCE":
            o.ClearField("data_source_class_type")
    else:
        if not o.name:
            o.name = d.name
        o.type = d.type
        o.description = d.description
        o.owner = d.owner
        if t not in ("PUSH_SOURCE", "REQUEST_SOURCE"):
            o.field_mapping.update(d.field_mapping)
            o.created_timestamp_column = d.created_timestamp_column
        if t != "PUSH_SOURCE":
            o.timestamp_field = d.timestamp_field
    o.tags.update(d.tags)  # ConnectionRef.to_tags writes back the same keys and values
    o.meta.SetInParent()
    if d.meta.HasField("created_timestamp"):
        ts_round_trip(d.meta.created_timestamp, o.meta.created_timestamp)
    if d.meta.HasField("last_updated_timestamp"):
        ts_round_trip(d.meta.last_updated_timestamp, o.meta.last_updated_timestamp)
    if serialized:
        c = d.data_source_class_type if t == "CUSTOM_SOURCE" else cls
        if c:
            o.data_source_class_type = c
    return o


# ------------------------------------------------------------------ kinds


def rt_entity(e):
    s = e.spec
    spec = ENT.EntitySpecV2(name=s.name, value_type=s.value_type, join_key=s.join_key, description=s.description,
                            tags=dict(s.tags), owner=s.owner)
    meta = ENT.EntityMeta()
    for k in ("created_timestamp", "last_updated_timestamp"):
        if e.meta.HasField(k):
            ts_round_trip(getattr(e.meta, k), getattr(meta, k))
    return ENT.Entity(spec=spec, meta=meta)


STATES = {1, 2, 3, 4}  # FeatureViewState values Feast's enum knows besides UNSPECIFIED


def view_meta(src, dst, intervals=True):
    for k in ("created_timestamp", "last_updated_timestamp"):
        if src.HasField(k):
            ts_round_trip(getattr(src, k), getattr(dst, k))
    if intervals:
        for iv in src.materialization_intervals:
            x = dst.materialization_intervals.add()
            ts_round_trip(iv.start_time, x.start_time)
            ts_round_trip(iv.end_time, x.end_time)
    if src.current_version_number > 0:
        dst.current_version_number = src.current_version_number
    if src.state in STATES:
        dst.state = src.state


def rt_fv_spec(s):
    o = FV.FeatureViewSpec(name=s.name, entities=list(s.entities), description=s.description, tags=dict(s.tags),
                           owner=s.owner, org=s.org, online=s.online, offline=s.offline, mode=s.mode,
                           enable_validation=s.enable_validation, version=s.version or "latest",
                           disabled=s.disabled)
    o.entity_columns.extend(field(f) for f in s.entity_columns)
    o.features.extend(field(f) for f in s.features)
    o.ttl.CopyFrom(dur(td(s.ttl)))
    if s.HasField("batch_source"):
        o.batch_source.CopyFrom(rt_data_source(s.batch_source, serialized=True))
    if s.HasField("stream_source"):
        o.stream_source.CopyFrom(rt_data_source(s.stream_source, serialized=True))
    o.source_views.extend(rt_fv_spec(v) for v in s.source_views)
    if s.HasField("feature_transformation"):
        o.feature_transformation.CopyFrom(s.feature_transformation)
    return o


def rt_feature_view(v):
    o = FV.FeatureView(spec=rt_fv_spec(v.spec), meta=FV.FeatureViewMeta())
    view_meta(v.meta, o.meta)
    return o


def rt_projection(p):
    o = FVP.FeatureViewProjection(feature_view_name=p.feature_view_name,
                                  feature_view_name_alias=p.feature_view_name_alias,
                                  join_key_map=dict(p.join_key_map), timestamp_field=p.timestamp_field,
                                  date_partition_column=p.date_partition_column,
                                  created_timestamp_column=p.created_timestamp_column,
                                  view_type=p.view_type or "featureView", version_tag=p.version_tag)
    o.feature_columns.extend(field(f) for f in p.feature_columns)
    if str(p.batch_source):
        o.batch_source.CopyFrom(rt_data_source(p.batch_source))
    return o


def rt_feature_service(v):
    s = v.spec
    spec = FS.FeatureServiceSpec(name=s.name, tags=dict(s.tags), description=s.description, owner=s.owner,
                                 precompute_online=s.precompute_online)
    spec.features.extend(rt_projection(p) for p in s.features)
    if s.logging_config.WhichOneof("destination"):
        spec.logging_config.CopyFrom(s.logging_config)
    meta = FS.FeatureServiceMeta()
    for k in ("created_timestamp", "last_updated_timestamp"):
        if v.meta.HasField(k):
            ts_round_trip(getattr(v.meta, k), getattr(meta, k))
    return FS.FeatureService(spec=spec, meta=meta)


def rt_aggregation(a):
    window = td(a.time_window)
    slide = td(a.slide_interval)
    if not slide:
        slide = window
    return AGG.Aggregation(column=a.column, function=a.function, time_window=dur(window), slide_interval=dur(slide),
                           name=a.name)


TRACK = "feast:track_metrics"


def rt_on_demand(v, for_plan=False):
    """(proto, udf_text, pandas); None when Feast has no transformation for it (to_dict skips it;
    for_plan: built without one)."""
    s = v.spec
    kind = s.feature_transformation.WhichOneof("transformation")
    mode = (s.mode or "pandas").lower()
    no_transformation = kind is None and len(s.aggregations) > 0
    if no_transformation and not for_plan:
        return None
    spec = ODFV.OnDemandFeatureViewSpec(name=s.name, description=s.description, owner=s.owner, org=s.org,
                                        write_to_online_store=s.write_to_online_store, singleton=s.singleton,
                                        disabled=s.disabled, mode=mode, version=s.version or "latest")
    if len(s.entities):
        spec.entities.extend(s.entities)
    spec.entity_columns.extend(field(f) for f in s.entity_columns)
    spec.features.extend(field(f) for f in s.features)
    spec.aggregations.extend(rt_aggregation(a) for a in s.aggregations)
    tags = dict(s.tags)
    if TRACK in tags:
        on = tags.pop(TRACK).lower() == "true"
        if on:
            tags[TRACK] = "true"
    spec.tags.update(tags)
    for key, src in s.sources.items():
        which = src.WhichOneof("source")
        if which == "feature_view_projection":
            spec.sources[src.feature_view_projection.feature_view_name].feature_view_projection.CopyFrom(
                rt_projection(src.feature_view_projection))
        elif which == "request_data_source":
            spec.sources[src.request_data_source.name].request_data_source.CopyFrom(
                rt_data_source(src.request_data_source))
        elif which == "feature_view":
            fs = src.feature_view.spec
            p = FVP.FeatureViewProjection(feature_view_name=fs.name, view_type="featureView")
            p.feature_columns.extend(field(f) for f in fs.features)
            if fs.HasField("batch_source"):
                b = rt_data_source(fs.batch_source)
                p.timestamp_field = b.created_timestamp_column
                p.created_timestamp_column = b.created_timestamp_column
                p.date_partition_column = b.date_partition_column
                p.batch_source.CopyFrom(b)
            spec.sources[fs.name].feature_view_projection.CopyFrom(p)
    udf = None
    pandas = True
    if kind == "user_defined_function" and s.feature_transformation.user_defined_function.body_text:
        udf = s.feature_transformation.user_defined_function
        pandas = mode == "pandas"
    elif kind != "substrait_transformation" and not no_transformation:
        udf = s.user_defined_function
    text = None
    if udf is not None:
        text = udf.body_text
        u = spec.feature_transformation.user_defined_function
        u.name = udf.name
        u.body_text = udf.body_text
        u.mode = "pandas" if pandas else mode
    elif kind == "substrait_transformation":
        spec.feature_transformation.substrait_transformation.CopyFrom(s.feature_transformation.substrait_transformation)
    meta = ODFV.OnDemandFeatureViewMeta()
    view_meta(v.meta, meta, intervals=False)
    return ODFV.OnDemandFeatureView(spec=spec, meta=meta), text, pandas


def rt_stream_view(v):
    s = v.spec
    spec = SFV.StreamFeatureViewSpec(name=s.name, description=s.description, owner=s.owner, org=s.org, online=s.online,
                                     timestamp_field=s.timestamp_field, mode=s.mode, enable_tiling=s.enable_tiling,
                                     enable_validation=s.enable_validation, disabled=s.disabled, tags=dict(s.tags),
                                     entities=list(s.entities), version=s.version or "latest")
    spec.entity_columns.extend(field(f) for f in s.entity_columns)
    spec.features.extend(field(f) for f in s.features)
    spec.aggregations.extend(rt_aggregation(a) for a in s.aggregations)
    spec.ttl.CopyFrom(dur(td(s.ttl)))
    if s.HasField("tiling_hop_size") and s.tiling_hop_size.ToNanoseconds() != 0:
        spec.tiling_hop_size.CopyFrom(dur(s.tiling_hop_size.ToTimedelta()))
    if s.HasField("batch_source"):
        spec.batch_source.CopyFrom(rt_data_source(s.batch_source, serialized=True))
    if s.HasField("stream_source"):
        spec.stream_source.CopyFrom(rt_data_source(s.stream_source, serialized=True))
    text = None
    if s.HasField("user_defined_function"):
        u = s.user_defined_function
        text = u.body_text
        spec.user_defined_function.name = u.name
        spec.user_defined_function.body_text = u.body_text
        ft = spec.feature_transformation.user_defined_function
        ft.name = u.name
        ft.body = u.body
        ft.body_text = u.body_text
    meta = FV.FeatureViewMeta()
    view_meta(v.meta, meta)
    return SFV.StreamFeatureView(spec=spec, meta=meta), text


def rt_label_view(v):
    s = v.spec
    spec = LV.LabelViewSpec(name=s.name, description=s.description, tags=dict(s.tags), owner=s.owner, online=s.online,
                            labeler_field=s.labeler_field or "labeler", conflict_policy=s.conflict_policy,
                            reference_feature_view=s.reference_feature_view, entities=list(s.entities))
    spec.entity_columns.extend(field(f) for f in s.entity_columns)
    spec.features.extend(field(f) for f in s.features)
    spec.ttl.CopyFrom(dur(td(s.ttl)))
    if s.HasField("source"):
        spec.source.CopyFrom(rt_data_source(s.source, serialized=True))
    meta = LV.LabelViewMeta()
    for k in ("created_timestamp", "last_updated_timestamp"):
        if v.meta.HasField(k):
            ts_round_trip(getattr(v.meta, k), getattr(meta, k))
    return LV.LabelView(spec=spec, meta=meta)


def rt_saved_dataset(v):
    s = v.spec
    spec = SD.SavedDatasetSpec(name=s.name, features=list(s.features), join_keys=list(s.join_keys),
                               full_feature_names=s.full_feature_names, tags=dict(s.tags), namespace=s.namespace,
                               collection=s.collection, description=s.description,
                               feature_service_name=s.feature_service_name)
    st = s.storage
    kind = st.WhichOneof("kind")
    spec.storage.SetInParent()
    if kind == "file_storage":
        f = st.file_storage
        spec.storage.file_storage.SetInParent()
        ff = file_format(f.file_format)
        if ff is not None:
            spec.storage.file_storage.file_format.CopyFrom(ff)
        spec.storage.file_storage.uri = f.uri
        spec.storage.file_storage.s3_endpoint_override = f.s3_endpoint_override
    elif kind == "bigquery_storage":
        spec.storage.bigquery_storage.table = st.bigquery_storage.table
    elif kind in ("redshift_storage", "snowflake_storage"):
        x = getattr(st, kind)
        y = getattr(spec.storage, kind)
        y.table, y.schema, y.query, y.database = x.table, x.schema, x.query, x.database
    elif kind == "spark_storage":
        x = st.spark_storage
        y = spec.storage.spark_storage
        y.table, y.query, y.path, y.file_format = x.table, x.query, x.path, x.file_format
        if x.HasField("table_format"):
            y.table_format.CopyFrom(x.table_format)
    elif kind is not None:
        spec.storage.CopyFrom(st)
    meta = SD.SavedDatasetMeta()
    for k in ("created_timestamp", "min_event_timestamp", "max_event_timestamp"):
        if v.meta.HasField(k):
            ts_round_trip(getattr(v.meta, k), getattr(meta, k))
    return SD.SavedDataset(spec=spec, meta=meta)


ALL_TYPES = ["PROJECT", "FEATURE_VIEW", "ON_DEMAND_FEATURE_VIEW", "BATCH_FEATURE_VIEW", "STREAM_FEATURE_VIEW",
             "LABEL_VIEW", "ENTITY", "FEATURE_SERVICE", "DATA_SOURCE", "VALIDATION_REFERENCE", "SAVED_DATASET",
             "PERMISSION"]


def rt_permission(v):
    s = v.spec
    spec = PERM.PermissionSpec(name=s.name, name_patterns=list(s.name_patterns), actions=list(s.actions),
                               tags=dict(s.tags), required_tags=dict(s.required_tags))
    if s.HasField("policy"):
        spec.policy.CopyFrom(s.policy)
    types = list(s.types) or [PERM.PermissionSpec.Type.Value(t) for t in ALL_TYPES]
    spec.types.extend(types)
    meta = PERM.PermissionMeta()
    for k in ("created_timestamp", "last_updated_timestamp"):
        if v.meta.HasField(k):
            ts_round_trip(getattr(v.meta, k), getattr(meta, k))
    return PERM.Permission(spec=spec, meta=meta)


SQLITE = "feast.infra.online_stores.sqlite.SqliteTable"
DATASTORE = "feast.infra.online_stores.datastore.DatastoreTable"


def rt_infra_object(io):
    cls = io.infra_object_class_type
    if cls == SQLITE or (not cls and io.HasField("sqlite_table")):
        return SQL.SqliteTable(path=io.sqlite_table.path, name=io.sqlite_table.name)
    if cls == DATASTORE or (not cls and io.HasField("datastore_table")):
        t = io.datastore_table
        o = DST.DatastoreTable(project=t.project, name=t.name)
        for k in ("project_id", "namespace", "database"):
            if getattr(t, k).value:
                getattr(o, k).value = getattr(t, k).value
        return o
    which = io.WhichOneof("infra_object")
    return getattr(io, which) if which else INFRA.InfraObject()


# ------------------------------------------------------------------ to_dict


def sorted_dict(m):
    m.DiscardUnknownFields()
    return json.loads(json_format.MessageToJson(m, sort_keys=True))


def to_dict(reg, project):
    d = {"project": project}

    def add(key, items):
        if items:
            d[key] = items

    pm = [p for p in reg.project_metadata if p.project == project]
    add("projectMetadata", [sorted_dict(R.ProjectMetadata(project=p.project, project_uuid=p.project_uuid))
                            for p in sorted(pm, key=lambda p: p.project)])
    dss = []
    for x in reg.data_sources:
        if x.project == project:
            o = rt_data_source(x)
            dss.append((o.name, o))
    add("dataSources", [sorted_dict(o) for _, o in sorted(dss, key=lambda t: t[0])])
    add("entities", [sorted_dict(rt_entity(x)) for x in
                     sorted((x for x in reg.entities if x.spec.project == project), key=lambda x: x.spec.name)])
    add("featureViews", [sorted_dict(rt_feature_view(x)) for x in
                         sorted((x for x in reg.feature_views if x.spec.project == project), key=lambda x: x.spec.name)])
    add("featureServices", [sorted_dict(rt_feature_service(x)) for x in
                            sorted((x for x in reg.feature_services if x.spec.project == project),
                                   key=lambda x: x.spec.name)])
    odfvs = []
    for x in sorted((x for x in reg.on_demand_feature_views if x.spec.project == project), key=lambda x: x.spec.name):
        r = rt_on_demand(x)
        if r is None:
            continue
        proto, text, pandas = r
        od = sorted_dict(proto)
        ft = od["spec"].get("featureTransformation", {})
        if "userDefinedFunction" in ft:
            if pandas:
                od["spec"].setdefault("userDefinedFunction", {})["body"] = text
                ft["userDefinedFunction"]["body"] = text
            else:
                ft["userDefinedFunction"]["body"] = None
        odfvs.append(od)
    add("onDemandFeatureViews", odfvs)
    sfvs = []
    for x in sorted((x for x in reg.stream_feature_views if x.spec.project == project), key=lambda x: x.spec.name):
        proto, text = rt_stream_view(x)
        sd = sorted_dict(proto)
        if text is not None:
            sd["spec"]["userDefinedFunction"]["body"] = text
        sfvs.append(sd)
    add("streamFeatureViews", sfvs)
    add("labelViews", [sorted_dict(rt_label_view(x)) for x in
                       sorted((x for x in reg.label_views if x.spec.project == project), key=lambda x: x.spec.name)])
    add("savedDatasets", [sorted_dict(rt_saved_dataset(x)) for x in
                          sorted((x for x in reg.saved_datasets if x.spec.project == project),
                                 key=lambda x: x.spec.name)])
    infra = [rt_infra_object(io) for io in reg.infra.infra_objects]
    add("infra", [sorted_dict(o) for o in sorted(infra, key=lambda o: o.name)])
    add("permissions", [sorted_dict(rt_permission(x)) for x in
                        sorted((x for x in reg.permissions if x.spec.project == project), key=lambda x: x.spec.name)])
    return d


def projects_of(reg):
    ps = set()
    for x in list(reg.entities) + list(reg.feature_tables) + list(reg.feature_views) + list(reg.feature_services) \
            + list(reg.on_demand_feature_views) + list(reg.saved_datasets) + list(reg.stream_feature_views) \
            + list(reg.permissions) + list(reg.label_views):
        ps.add(x.spec.project)
    for x in list(reg.data_sources) + list(reg.validation_references) + list(reg.project_metadata):
        ps.add(x.project)
    for x in reg.projects:
        ps.add(x.spec.name)
    ps.discard("")
    return sorted(ps)


def dump(files):
    out = os.path.join(WORK, "out")
    for f in files:
        reg = R.Registry()
        with open(f, "rb") as fh:
            reg.ParseFromString(fh.read())
        d = os.path.join(out, os.path.basename(f))
        os.makedirs(d, exist_ok=True)
        ps = projects_of(reg)
        with open(os.path.join(d, "projects.txt"), "w") as fh:
            fh.write("".join(p + "\n" for p in ps))
        for i, p in enumerate(ps):
            with open(os.path.join(d, "%d.json" % i), "w") as fh:
                fh.write(json.dumps(to_dict(reg, p), indent=2, sort_keys=True) + "\n")


# ------------------------------------------------------------------ variants of a generated registry


def add_unknown(m, number, payload):
    """Appends an unknown length-delimited field to message m (through its bytes)."""
    tag = bytes([(number << 3 | 2) & 0x7f | 0x80, number >> 4]) if number >= 16 else bytes([number << 3 | 2])
    data = m.SerializeToString() + tag + bytes([len(payload)]) + payload
    m.Clear()
    m.ParseFromString(data)


def variants(src, outdir):
    reg = R.Registry()
    with open(src, "rb") as fh:
        reg.ParseFromString(fh.read())
    os.makedirs(outdir, exist_ok=True)
    # 1. empty infra (present, no objects)
    a = R.Registry()
    a.CopyFrom(reg)
    a.infra.Clear()
    a.infra.SetInParent()
    # 2. unknown fields inside objects, nested messages, and at the top level (field 9)
    b = R.Registry()
    b.CopyFrom(reg)
    for e in b.entities:
        add_unknown(e.spec, 77, b"x")
        add_unknown(e, 55, b"yy")
    for i, fv in enumerate(b.feature_views):
        extra = fv.spec.features.add(name="nested_%d" % i)
        extra.value_type = [VT.STRUCT, VT.STRUCT_LIST, VT.VALUE_LIST, VT.VALUE_SET][i % 4]
        if i % 5 == 4:
            extra.tags["feast:struct_schema"] = json.dumps({"a": "INT64"})
        add_unknown(fv.spec.batch_source, 99, b"zz")
        for f in fv.spec.features[:2]:
            add_unknown(f, 31, b"w")
    for ds in b.data_sources:
        add_unknown(ds, 200, b"v")
    # 3. UDFs with source text (pandas and python), a substrait-free python view, and infra objects
    # of both table kinds in reverse name order
    c = R.Registry()
    c.CopyFrom(reg)
    for i, v in enumerate(c.on_demand_feature_views):
        u = v.spec.feature_transformation.user_defined_function
        u.name = u.name or "udf_%d" % i
        u.body_text = "def %s(df):\n    return df  # \u00e9\n" % u.name
        v.spec.mode = "python" if i % 3 == 2 else ("PANDAS" if i % 3 == 1 else "pandas")
        if i % 4 == 3:
            v.spec.tags[TRACK] = "TRUE"
    c.infra.Clear()
    for name in ("zeta", "alpha", "mid"):
        o = c.infra.infra_objects.add()
        o.infra_object_class_type = SQLITE
        o.sqlite_table.path = "/data/%s.db" % name
        o.sqlite_table.name = name
    o = c.infra.infra_objects.add()
    o.infra_object_class_type = DATASTORE
    o.datastore_table.project = "p"
    o.datastore_table.name = "beta"
    o.datastore_table.namespace.value = ""
    o.datastore_table.project_id.value = "gcp-1"
    for name, r in (("empty_infra", a), ("unknown_fields", b), ("udf_text", c)):
        stem = os.path.basename(src)[:-3] if src.endswith(".db") else os.path.basename(src)
        with open(os.path.join(outdir, "%s-%s.db" % (stem, name)), "wb") as fh:
            fh.write(r.SerializeToString())


# ------------------------------------------------------------------ feast plan


PROJ = importlib.import_module("feast.core.Project_pb2")


def rt_project(v):
    spec = PROJ.ProjectSpec(name=v.spec.name, description=v.spec.description, tags=dict(v.spec.tags),
                            owner=v.spec.owner)
    return PROJ.Project(spec=spec)


def projects_named(reg, project):
    ps = [p for p in reg.projects if p.spec.name == project]
    if not ps and any(m.project == project for m in reg.project_metadata):
        ps = [PROJ.Project(spec=PROJ.ProjectSpec(name=project))]  # Registry._sync_feast_metadata_to_projects_table
    return ps


def odfv_plan(v):
    proto, _, _ = rt_on_demand(v, for_plan=True)
    ft = proto.spec.feature_transformation
    if ft.WhichOneof("transformation") == "user_defined_function":
        src = v.spec.feature_transformation.user_defined_function
        if not src.body_text:
            src = v.spec.user_defined_function
        ft.user_defined_function.body = src.body  # the stored pickle stands for Feast's re-pickled one
    return proto


def sfv_plan(v):
    proto, _ = rt_stream_view(v)
    if v.spec.HasField("user_defined_function"):
        proto.spec.user_defined_function.body = v.spec.user_defined_function.body
    return proto


# FeastObjectType order, each with the spec fields in the order Feast's .proto declares them
PLAN_TYPES = [
    ("project", projects_named, rt_project, ["name", "description", "tags", "owner"]),
    ("data source", None, None, None),
    ("entity", lambda r, p: [x for x in r.entities if x.spec.project == p], rt_entity,
     ["name", "project", "value_type", "description", "join_key", "tags", "owner"]),
    ("feature view", lambda r, p: [x for x in r.feature_views if x.spec.project == p], rt_feature_view,
     ["name", "project", "entities", "features", "tags", "ttl", "batch_source", "online", "stream_source",
      "description", "owner", "entity_columns", "offline", "source_views", "feature_transformation", "mode",
      "enable_validation", "version", "org", "disabled"]),
    ("on demand feature view", lambda r, p: [x for x in r.on_demand_feature_views if x.spec.project == p], odfv_plan,
     ["name", "project", "features", "sources", "user_defined_function", "feature_transformation", "description",
      "tags", "owner", "mode", "write_to_online_store", "entities", "entity_columns", "singleton", "aggregations",
      "version", "org", "disabled"]),
    ("stream feature view", lambda r, p: [x for x in r.stream_feature_views if x.spec.project == p], sfv_plan,
     ["name", "project", "entities", "features", "entity_columns", "description", "tags", "owner", "ttl",
      "batch_source", "stream_source", "online", "user_defined_function", "mode", "aggregations", "timestamp_field",
      "feature_transformation", "enable_tiling", "tiling_hop_size", "enable_validation", "version", "org",
      "disabled"]),
    ("label view", lambda r, p: [x for x in r.label_views if x.spec.project == p], rt_label_view,
     ["name", "project", "entities", "features", "tags", "ttl", "source", "online", "description", "owner",
      "entity_columns", "labeler_field", "conflict_policy", "retain_history", "reference_feature_view"]),
    ("feature service", lambda r, p: [x for x in r.feature_services if x.spec.project == p], rt_feature_service,
     ["name", "project", "features", "tags", "description", "owner", "logging_config", "precompute_online"]),
    ("permission", lambda r, p: [x for x in r.permissions if x.spec.project == p], rt_permission,
     ["name", "project", "types", "name_patterns", "required_tags", "actions", "policy", "tags"]),
]


def by_name(objs, rt):
    out = {}
    for x in objs:
        if x.spec.name and x.spec.name not in out:
            m = rt(x)
            m.DiscardUnknownFields()
            out[x.spec.name] = m
    return out


class _Text:
    """A message shown the way str(message) shows it under upb, the runtime current Feast installs:
    protobuf text format with floats in their shortest round-trip form (text_format.MessageToString;
    Debian's older C++ runtime would print float 0.7 as 0.699999988079071)."""

    def __init__(self, m):
        self.m = m

    def __repr__(self):
        return text_format.MessageToString(self.m)


def py_str(msg, f, value):
    """f"{value}" as Feast's plan prints it. A map's entries come out in the order of the protobuf
    runtime's map (a hash order with the C++ and upb runtimes): sorted here, as regsync does."""
    fd = msg.DESCRIPTOR.fields_by_name[f]
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        vd = fd.message_type.fields_by_name["value"]
        items = sorted(value.items())
        if vd.message_type is not None:
            items = [(k, _Text(v)) for k, v in items]
        return repr(dict(items))
    if fd.message_type is not None and fd.label == fd.LABEL_REPEATED:
        return repr([_Text(v) for v in value])
    if fd.message_type is not None:
        return text_format.MessageToString(value)
    return f"{value}"


def property_lines(fields, cur, new):
    lines = []
    for f in fields:
        if f == "project" or not hasattr(cur, f):
            continue
        a, b = getattr(cur, f), getattr(new, f)
        if a == b:
            continue
        if f == "feature_transformation":
            ua, ub = a.user_defined_function, b.user_defined_function
            for g in ("name", "body", "body_text", "mode"):
                if g != "body" and getattr(ua, g) != getattr(ub, g):
                    lines.append(f"\t{f}.{g}: {getattr(ua, g)} -> {getattr(ub, g)}\n")
            continue
        lines.append(f"\t{f}: {py_str(cur, f, a)} -> {py_str(new, f, b)}\n")
    return lines


def plan(a, b, project):
    log = ""
    for label, get, rt, fields in PLAN_TYPES:
        if get is None:
            continue
        A, B = by_name(get(a, project), rt), by_name(get(b, project), rt)
        for name in sorted(set(B) - set(A)):
            if name != "__dummy":
                log += f"Created {label} {name}\n"
        for name in sorted(set(A) - set(B)):
            if name != "__dummy":
                log += f"Deleted {label} {name}\n"
        for name in sorted(set(A) & set(B)):
            if name == "__dummy":
                continue
            lines = property_lines(fields, A[name].spec, B[name].spec)
            if lines:
                log += f"Updated {label} {B[name].spec.name}\n" + "".join(lines)
    return (log or "No changes to registry") + "\n"


def plans(listing):
    """listing: lines 'A<TAB>B<TAB>PROJECT<TAB>OUT'"""
    regs = {}

    def load(f):
        if f not in regs:
            r = R.Registry()
            with open(f, "rb") as fh:
                r.ParseFromString(fh.read())
            regs[f] = r
        return regs[f]

    with open(listing) as fh:
        for line in fh:
            fa, fb, p, outp = line.rstrip("\n").split("\t")
            with open(outp, "w") as o:
                o.write(plan(load(fa), load(fb), p))


if __name__ == "__main__":
    if sys.argv[3] == "dump":
        dump(sys.argv[4:])
    elif sys.argv[3] == "plans":
        plans(sys.argv[4])
    elif sys.argv[3] == "variants":
        variants(sys.argv[4], sys.argv[5])
    else:
        sys.exit("usage: feast_dict.py PROTO_DIR WORK_DIR dump FILE... | variants IN OUT_DIR")

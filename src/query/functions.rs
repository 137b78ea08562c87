//! SQL functions analysts of these events reach for often enough to earn one.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{create_udf, AggregateUDF, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;

/// The single argument of a one-argument function as an array. DataFusion checks the count
/// against the signature before calling; this keeps a miscount an error, not a panic.
fn one_argument(args: &[ColumnarValue], function: &str) -> Result<ArrayRef, DataFusionError> {
    match args {
        [ColumnarValue::Array(array)] => Ok(array.clone()),
        [ColumnarValue::Scalar(scalar)] => scalar.to_array(),
        _ => Err(DataFusionError::Plan(format!(
            "{function} takes one argument, not {}",
            args.len()
        ))),
    }
}

pub fn register(context: &SessionContext) {
    // date_hour(time) → '2026-11-20 13:00': an hour bucket that sorts, groups and reads well.
    let date_hour = create_udf(
        "date_hour",
        vec![DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let array = one_argument(args, "date_hour")?;
            let times = array
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(|| DataFusionError::Plan("date_hour takes a timestamp".into()))?;
            let mut out = StringBuilder::with_capacity(times.len(), times.len() * 16);
            for index in 0..times.len() {
                if times.is_null(index) {
                    out.append_null();
                    continue;
                }
                out.append_value(
                    crate::time::CivilTime::from_micros(times.value(index)).date_hour(),
                );
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    );
    context.register_udf(date_hour);

    // arrival_time(source_object) → when Firehose delivered the object, from its name
    // (`…-YYYY-MM-DD-HH-MM-SS-<uuid>`); NULL for objects not named that way.
    let arrival_time = create_udf(
        "arrival_time",
        vec![DataType::Utf8],
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let array = one_argument(args, "arrival_time")?;
            let names = arrow::compute::cast(&array, &DataType::Utf8)?;
            let names = names
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| DataFusionError::Plan("arrival_time takes text".into()))?;
            let times: TimestampMicrosecondArray = names
                .iter()
                .map(|name| name.and_then(crate::source::arrival_time_from_name))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(times.with_timezone("UTC"))))
        }),
    );
    context.register_udf(arrival_time);

    // DataFusion's `count`, with `count(DISTINCT text)` counted faster (see count_distinct.rs).
    context.register_udaf(AggregateUDF::from(super::count_distinct::Count::default()));
}

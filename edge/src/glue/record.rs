//! Where a request's record goes in the Workers runtime: a JSON line on the console (when
//! `REQUEST_LOG` is on) and a data point on the `ANALYTICS` Analytics Engine dataset (when it is
//! bound). Writing a data point does not wait: the real binding queues it and returns nothing; a
//! binding that returns a promise (a test's recording stand-in) is kept alive with `waitUntil`,
//! never awaited by the response.

use worker::js_sys::{Array, Function, Object, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, console_log, Context, Env};

use crate::telemetry::RequestRecord;

/// The binding name of the Analytics Engine dataset.
pub(super) const BINDING: &str = "ANALYTICS";

pub(super) struct Sink<'a> {
    ctx: &'a Context,
    dataset: Option<JsValue>,
    log: bool,
}

impl<'a> Sink<'a> {
    pub(super) fn new(env: &Env, ctx: &'a Context, log: bool) -> Self {
        let dataset = Reflect::get(env, &JsValue::from_str(BINDING))
            .ok()
            .filter(|v| v.is_object());
        Self { ctx, dataset, log }
    }

    pub(super) fn record(&self, record: &RequestRecord) {
        if self.log {
            console_log!("{}", record.log_line());
        }
        let Some(dataset) = &self.dataset else {
            return;
        };
        if let Err(e) = self.write(dataset, record) {
            console_error!("analytics: data point not written: {e:?}");
        }
    }

    fn write(&self, dataset: &JsValue, record: &RequestRecord) -> Result<(), JsValue> {
        let point = record.data_point();
        let strings = |v: &[String]| -> Array { v.iter().map(|s| JsValue::from_str(s)).collect() };
        let doubles: Array = point
            .doubles
            .iter()
            .map(|d| JsValue::from_f64(*d))
            .collect();
        let obj = Object::new();
        Reflect::set(&obj, &"indexes".into(), &strings(&point.indexes))?;
        Reflect::set(&obj, &"blobs".into(), &strings(&point.blobs))?;
        Reflect::set(&obj, &"doubles".into(), &doubles)?;
        let write: Function = Reflect::get(dataset, &"writeDataPoint".into())?.dyn_into()?;
        let returned = write.call1(dataset, &obj)?;
        if let Ok(pending) = returned.dyn_into::<Promise>() {
            self.ctx.wait_until(async move {
                let _ = JsFuture::from(pending).await;
            });
        }
        Ok(())
    }
}

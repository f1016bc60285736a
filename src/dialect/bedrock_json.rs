//! Bedrock's own JSON shapes for the SDK's event types.
//!
//! The SDK deserializes Converse events into Rust types without keeping the
//! JSON; these wrappers write them back with the service's camelCase names,
//! straight into the output buffer. Absent optional fields are left out, as
//! Bedrock leaves them out; blobs are base64, as on the wire.

use aws_sdk_bedrockruntime::types::{
    CitationLocation, CitationsDelta, ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart,
    ContentBlockStartEvent, ContentBlockStopEvent, ConverseStreamMetadataEvent, ImageSource,
    MessageStartEvent, MessageStopEvent, ReasoningContentBlockDelta, TokenUsage,
    ToolResultBlockDelta,
};
use aws_smithy_types::{Blob, Document, Number};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

/// A borrowed SDK value that serializes as Bedrock's JSON.
pub(crate) struct Json<'a, T: ?Sized>(pub(crate) &'a T);

/// Writes `"key": value` only when the value is present.
pub(super) fn entry<M: SerializeMap, V: Serialize + ?Sized>(
    map: &mut M,
    key: &str,
    value: Option<&V>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

impl Serialize for Json<'_, MessageStartEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("role", self.0.role.as_str())?;
        map.end()
    }
}

impl Serialize for Json<'_, ContentBlockStartEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("contentBlockIndex", &self.0.content_block_index)?;
        entry(&mut map, "start", self.0.start.as_ref().map(Json).as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, ContentBlockStart> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            ContentBlockStart::ToolUse(tool) => {
                map.serialize_entry("toolUse", &ToolUseStart(tool))?;
            }
            ContentBlockStart::ToolResult(result) => {
                map.serialize_entry("toolResult", &ToolResultStart(result))?;
            }
            ContentBlockStart::Image(image) => {
                map.serialize_entry("image", &Format(image.format.as_str()))?;
            }
            _ => {}
        }
        map.end()
    }
}

struct ToolUseStart<'a>(&'a aws_sdk_bedrockruntime::types::ToolUseBlockStart);

impl Serialize for ToolUseStart<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("toolUseId", &self.0.tool_use_id)?;
        map.serialize_entry("name", &self.0.name)?;
        entry(
            &mut map,
            "type",
            self.0.r#type.as_ref().map(|kind| kind.as_str()),
        )?;
        map.end()
    }
}

struct ToolResultStart<'a>(&'a aws_sdk_bedrockruntime::types::ToolResultBlockStart);

impl Serialize for ToolResultStart<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("toolUseId", &self.0.tool_use_id)?;
        entry(&mut map, "type", self.0.r#type.as_deref())?;
        entry(
            &mut map,
            "status",
            self.0.status.as_ref().map(|status| status.as_str()),
        )?;
        map.end()
    }
}

struct Format<'a>(&'a str);

impl Serialize for Format<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("format", self.0)?;
        map.end()
    }
}

impl Serialize for Json<'_, ContentBlockDeltaEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("contentBlockIndex", &self.0.content_block_index)?;
        entry(&mut map, "delta", self.0.delta.as_ref().map(Json).as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, ContentBlockDelta> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            ContentBlockDelta::Text(text) => map.serialize_entry("text", text)?,
            ContentBlockDelta::ToolUse(tool) => {
                map.serialize_entry("toolUse", &Input(&tool.input))?;
            }
            ContentBlockDelta::ReasoningContent(reasoning) => {
                map.serialize_entry("reasoningContent", &Json(reasoning))?;
            }
            ContentBlockDelta::Citation(citation) => {
                map.serialize_entry("citation", &Json(citation))?;
            }
            ContentBlockDelta::Image(image) => {
                map.serialize_entry("image", &ImageDelta(image))?;
            }
            ContentBlockDelta::ToolResult(results) => {
                map.serialize_entry("toolResult", &ToolResults(results))?;
            }
            _ => {}
        }
        map.end()
    }
}

struct Input<'a>(&'a str);

impl Serialize for Input<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("input", self.0)?;
        map.end()
    }
}

impl Serialize for Json<'_, ReasoningContentBlockDelta> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            ReasoningContentBlockDelta::Text(text) => map.serialize_entry("text", text)?,
            ReasoningContentBlockDelta::Signature(signature) => {
                map.serialize_entry("signature", signature)?;
            }
            ReasoningContentBlockDelta::RedactedContent(blob) => {
                map.serialize_entry("redactedContent", &Base64(blob))?;
            }
            _ => {}
        }
        map.end()
    }
}

impl Serialize for Json<'_, CitationsDelta> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let citation = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "title", citation.title.as_deref())?;
        entry(&mut map, "source", citation.source.as_deref())?;
        if let Some(contents) = &citation.source_content {
            map.serialize_entry("sourceContent", &SourceContents(contents))?;
        }
        entry(
            &mut map,
            "location",
            citation.location.as_ref().map(Json).as_ref(),
        )?;
        map.end()
    }
}

struct SourceContents<'a>(&'a [aws_sdk_bedrockruntime::types::CitationSourceContentDelta]);

impl Serialize for SourceContents<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for content in self.0 {
            seq.serialize_element(&OptionalField("text", content.text.as_deref()))?;
        }
        seq.end()
    }
}

/// `{"<key>": "<value>"}`, or `{}` when the value is absent.
struct OptionalField<'a>(&'static str, Option<&'a str>);

impl Serialize for OptionalField<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, self.0, self.1)?;
        map.end()
    }
}

impl Serialize for Json<'_, CitationLocation> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            CitationLocation::Web(web) => {
                map.serialize_entry("web", &Span::web(web.url.as_deref(), web.domain.as_deref()))?;
            }
            CitationLocation::DocumentChar(at) => map.serialize_entry(
                "documentChar",
                &Span::range("documentIndex", at.document_index, at.start, at.end),
            )?,
            CitationLocation::DocumentPage(at) => map.serialize_entry(
                "documentPage",
                &Span::range("documentIndex", at.document_index, at.start, at.end),
            )?,
            CitationLocation::DocumentChunk(at) => map.serialize_entry(
                "documentChunk",
                &Span::range("documentIndex", at.document_index, at.start, at.end),
            )?,
            CitationLocation::SearchResultLocation(at) => map.serialize_entry(
                "searchResultLocation",
                &Span::range(
                    "searchResultIndex",
                    at.search_result_index,
                    at.start,
                    at.end,
                ),
            )?,
            _ => {}
        }
        map.end()
    }
}

/// The fields of a citation location: a range in a document or search
/// result, or a web page.
enum Span<'a> {
    Range {
        index_name: &'static str,
        index: Option<i32>,
        start: Option<i32>,
        end: Option<i32>,
    },
    Web {
        url: Option<&'a str>,
        domain: Option<&'a str>,
    },
}

impl<'a> Span<'a> {
    fn range(
        index_name: &'static str,
        index: Option<i32>,
        start: Option<i32>,
        end: Option<i32>,
    ) -> Self {
        Self::Range {
            index_name,
            index,
            start,
            end,
        }
    }

    fn web(url: Option<&'a str>, domain: Option<&'a str>) -> Self {
        Self::Web { url, domain }
    }
}

impl Serialize for Span<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            Span::Range {
                index_name,
                index,
                start,
                end,
            } => {
                entry(&mut map, index_name, index.as_ref())?;
                entry(&mut map, "start", start.as_ref())?;
                entry(&mut map, "end", end.as_ref())?;
            }
            Span::Web { url, domain } => {
                entry(&mut map, "url", *url)?;
                entry(&mut map, "domain", *domain)?;
            }
        }
        map.end()
    }
}

struct ImageDelta<'a>(&'a aws_sdk_bedrockruntime::types::ImageBlockDelta);

impl Serialize for ImageDelta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.0.source {
            Some(ImageSource::Bytes(blob)) => {
                map.serialize_entry("source", &Single("bytes", &Base64(blob)))?;
            }
            Some(ImageSource::S3Location(location)) => {
                map.serialize_entry(
                    "source",
                    &Single(
                        "s3Location",
                        &S3(&location.uri, location.bucket_owner.as_deref()),
                    ),
                )?;
            }
            _ => {}
        }
        if let Some(error) = &self.0.error {
            map.serialize_entry("error", &Single("message", &error.message))?;
        }
        map.end()
    }
}

struct S3<'a>(&'a str, Option<&'a str>);

impl Serialize for S3<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("uri", self.0)?;
        entry(&mut map, "bucketOwner", self.1)?;
        map.end()
    }
}

struct ToolResults<'a>(&'a [ToolResultBlockDelta]);

impl Serialize for ToolResults<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for result in self.0 {
            match result {
                ToolResultBlockDelta::Text(text) => seq.serialize_element(&Single("text", text))?,
                ToolResultBlockDelta::Json(document) => {
                    seq.serialize_element(&Single("json", &Json(document)))?;
                }
                _ => seq.serialize_element(&Empty)?,
            }
        }
        seq.end()
    }
}

/// `{"<key>": value}`.
struct Single<'a, V: ?Sized>(&'static str, &'a V);

impl<V: Serialize + ?Sized> Serialize for Single<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

impl Serialize for Json<'_, ContentBlockStopEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Single("contentBlockIndex", &self.0.content_block_index).serialize(serializer)
    }
}

impl Serialize for Json<'_, MessageStopEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("stopReason", self.0.stop_reason.as_str())?;
        entry(
            &mut map,
            "additionalModelResponseFields",
            self.0
                .additional_model_response_fields
                .as_ref()
                .map(Json)
                .as_ref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, ConverseStreamMetadataEvent> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metadata = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(
            &mut map,
            "usage",
            metadata.usage.as_ref().map(Json).as_ref(),
        )?;
        if let Some(metrics) = &metadata.metrics {
            map.serialize_entry("metrics", &Single("latencyMs", &metrics.latency_ms))?;
        }
        if let Some(trace) = &metadata.trace {
            map.serialize_entry("trace", &Trace(trace))?;
        }
        if let Some(performance) = &metadata.performance_config {
            map.serialize_entry(
                "performanceConfig",
                &Single("latency", performance.latency.as_str()),
            )?;
        }
        if let Some(tier) = &metadata.service_tier {
            map.serialize_entry("serviceTier", &Single("type", tier.r#type.as_str()))?;
        }
        map.end()
    }
}

impl Serialize for Json<'_, TokenUsage> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let usage = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("inputTokens", &usage.input_tokens)?;
        map.serialize_entry("outputTokens", &usage.output_tokens)?;
        map.serialize_entry("totalTokens", &usage.total_tokens)?;
        entry(
            &mut map,
            "cacheReadInputTokens",
            usage.cache_read_input_tokens.as_ref(),
        )?;
        entry(
            &mut map,
            "cacheWriteInputTokens",
            usage.cache_write_input_tokens.as_ref(),
        )?;
        if let Some(details) = &usage.cache_details {
            map.serialize_entry("cacheDetails", &CacheDetails(details))?;
        }
        map.end()
    }
}

struct CacheDetails<'a>(&'a [aws_sdk_bedrockruntime::types::CacheDetail]);

impl Serialize for CacheDetails<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for detail in self.0 {
            seq.serialize_element(&CacheDetail(detail))?;
        }
        seq.end()
    }
}

struct CacheDetail<'a>(&'a aws_sdk_bedrockruntime::types::CacheDetail);

impl Serialize for CacheDetail<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("ttl", self.0.ttl.as_str())?;
        map.serialize_entry("inputTokens", &self.0.input_tokens)?;
        map.end()
    }
}

/// The trace: the prompt router's choice, and the guardrail's verdict with
/// each guardrail's policy assessments (written by `bedrock_trace`).
struct Trace<'a>(&'a aws_sdk_bedrockruntime::types::ConverseStreamTrace);

impl Serialize for Trace<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(guardrail) = &self.0.guardrail {
            map.serialize_entry("guardrail", &Json(guardrail))?;
        }
        if let Some(router) = &self.0.prompt_router {
            let invoked = OptionalField("invokedModelId", router.invoked_model_id.as_deref());
            map.serialize_entry("promptRouter", &invoked)?;
        }
        map.end()
    }
}

struct Base64<'a>(&'a Blob);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&base64::display::Base64Display::new(
            self.0.as_ref(),
            &base64::engine::general_purpose::STANDARD,
        ))
    }
}

impl Serialize for Json<'_, Document> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Document::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object {
                    map.serialize_entry(key, &Json(value))?;
                }
                map.end()
            }
            Document::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            Document::Number(Number::PosInt(number)) => serializer.serialize_u64(*number),
            Document::Number(Number::NegInt(number)) => serializer.serialize_i64(*number),
            Document::Number(Number::Float(number)) => serializer.serialize_f64(*number),
            Document::String(text) => serializer.serialize_str(text),
            Document::Bool(value) => serializer.serialize_bool(*value),
            Document::Null => serializer.serialize_unit(),
        }
    }
}

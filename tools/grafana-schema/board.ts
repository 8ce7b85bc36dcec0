/**
 * The type every generated llmobs board must have: Grafana's own published dashboard model
 * (@grafana/schema: Dashboard, Panel, RowPanel, VariableModel, FieldConfigSource) with each
 * panel's options and custom field config narrowed to its plugin's published types
 * (timeseries, stat, bargauge, heatmap, table) and its queries to the Prometheus data
 * source's. llmobs.dashboards.typecheck writes each board as an object literal of this type
 * and runs `tsc --noEmit`, so an unknown property, a missing one or a wrong type is an error.
 *
 * Where this is stricter or looser than Grafana's types, and why:
 * - JSON has no enums: `Json<T>` turns every string enum of the model (ThresholdsMode,
 *   FieldColorModeId, ...) into the union of its values, so `"absolute"` is accepted where
 *   the model says `ThresholdsMode`. Numeric enums stay (a JSON number that is one of the
 *   values is accepted, any other number is an error).
 * - Panel.type is `string` in the model and options are `Record<string, unknown>`: here a
 *   panel is one of the five modern panels the boards use, told apart by `type`, and its
 *   `options` are that plugin's `Options`. Top-level options may be left out (Grafana fills
 *   each from the plugin's `defaultOptions`, which the package types as `Partial<Options>`);
 *   the nested objects a board does give (legend, tooltip, reduceOptions, ...) are complete.
 *   The same holds for `fieldConfig.defaults.custom` (the plugin's `FieldConfig`; stat and
 *   bar gauge have none, so theirs must be empty). The model's `custom` is
 *   `TOptions & Record<string, unknown>`, which would let any property through.
 * - `targets` is `Array<Record<string, unknown>>` in the model: here each is a Prometheus
 *   query (the package has no Prometheus type; fields from Grafana's Prometheus data query
 *   kind, packages/grafana-prometheus/src/dataquery.ts).
 * - `__inputs`, `__requires` and `__elements` are not in the model: Grafana's import adds
 *   and reads them (pkg/services/dashboardimport: the import screen asks for each input
 *   and replaces `${NAME}` everywhere, then drops `__inputs`; `__requires` is kept). They
 *   are typed here from that code, so they are checked too, not stripped.
 */
import type {
  DataQuery,
  DataSourceRef,
  Dashboard,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
} from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/** A type as JSON spells it: string enums become the union of their values. */
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

/** A query of the Prometheus data source. */
export interface PrometheusQuery extends Omit<Json<DataQuery>, 'datasource'> {
  datasource?: Json<DataSourceRef>;
  /** The PromQL expression. */
  expr: string;
  legendFormat?: string;
  /** Evaluated at the end of the range only (/api/v1/query). */
  instant?: boolean;
  /** Evaluated over the range (/api/v1/query_range). */
  range?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  /** Lower limit of the step. */
  interval?: string;
  intervalFactor?: number;
  exemplar?: boolean;
  editorMode?: 'code' | 'builder';
}

/** A panel's field config whose `custom` part is the plugin's field config `C`. */
export type FieldConfigOf<C> = Omit<Json<FieldConfigSource>, 'defaults'> & {
  defaults: Omit<Json<FieldConfig>, 'custom'> & { custom?: Partial<Json<C>> };
};

/** One panel of plugin `T`, with options `O` and custom field config `C`. */
export type PanelOf<T extends string, O, C> = Omit<
  Json<Panel>,
  'type' | 'options' | 'fieldConfig' | 'targets'
> & {
  type: T;
  options?: Partial<Json<O>>;
  fieldConfig?: FieldConfigOf<C>;
  targets?: PrometheusQuery[];
};

type Nothing = Record<string, never>;

export type TimeseriesPanel = PanelOf<'timeseries', timeseries.Options, timeseries.FieldConfig>;
export type StatPanel = PanelOf<'stat', stat.Options, Nothing>;
export type BarGaugePanel = PanelOf<'bargauge', bargauge.Options, Nothing>;
export type HeatmapPanel = PanelOf<'heatmap', heatmap.Options, heatmap.FieldConfig>;
export type TablePanel = PanelOf<'table', table.Options, table.FieldConfig>;

export type BoardPanel = TimeseriesPanel | StatPanel | BarGaugePanel | HeatmapPanel | TablePanel;

/** A row: expanded rows have no panels of their own (theirs follow them), collapsed rows nest them. */
export type BoardRow = Omit<Json<RowPanel>, 'panels'> & { panels: BoardPanel[] };

/** An entry of `__inputs`: what the import screen asks for (a data source of a plugin, or a constant). */
export type ImportInput =
  | {
      name: string;
      label: string;
      description?: string;
      type: 'datasource';
      pluginId: string;
      pluginName: string;
    }
  | { name: string; label: string; description?: string; type: 'constant'; value: string };

/** An entry of `__requires`: Grafana, a data source or a panel plugin the board needs, with its version. */
export interface ImportRequirement {
  type: 'grafana' | 'datasource' | 'panel';
  id: string;
  name: string;
  version: string;
}

/** A generated llmobs board: Grafana's Dashboard with the panels above and the import fields. */
export type Board = Omit<Json<Dashboard>, 'panels'> & {
  panels?: Array<BoardPanel | BoardRow>;
  __inputs?: ImportInput[];
  __requires?: ImportRequirement[];
  __elements?: Record<string, unknown>;
};

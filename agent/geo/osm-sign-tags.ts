// The 43 GTSRB classes (the sign classifier's labels) as German sign numbers of the StVO catalogue, in
// OpenStreetMap's traffic_sign syntax (https://wiki.openstreetmap.org/wiki/Key:traffic_sign): `DE:274[50]` is
// sign 274 with the value 50. Directional variants carry their catalogue suffix (-10 left, -20 right).

const DE: Record<string, string> = {
  "speed limit (20km/h)": "DE:274[20]",
  "speed limit (30km/h)": "DE:274[30]",
  "speed limit (50km/h)": "DE:274[50]",
  "speed limit (60km/h)": "DE:274[60]",
  "speed limit (70km/h)": "DE:274[70]",
  "speed limit (80km/h)": "DE:274[80]",
  "end of speed limit (80km/h)": "DE:278[80]",
  "speed limit (100km/h)": "DE:274[100]",
  "speed limit (120km/h)": "DE:274[120]",
  "no passing": "DE:276",
  "no passing for vehicles over 3.5 metric tons": "DE:277",
  "right-of-way at the next intersection": "DE:301",
  "priority road": "DE:306",
  yield: "DE:205",
  stop: "DE:206",
  // COCO's name for it (general object detectors)
  "stop sign": "DE:206",
  "no vehicles": "DE:250",
  "vehicles over 3.5 metric tons prohibited": "DE:253",
  "no entry": "DE:267",
  "general caution": "DE:101",
  "dangerous curve to the left": "DE:103-10",
  "dangerous curve to the right": "DE:103-20",
  "double curve": "DE:105-10",
  "bumpy road": "DE:112",
  "slippery road": "DE:114",
  "road narrows on the right": "DE:121-20",
  "road work": "DE:123",
  "traffic signals": "DE:131",
  pedestrians: "DE:133-10",
  "children crossing": "DE:136-10",
  "bicycles crossing": "DE:138-10",
  "beware of ice/snow": "DE:101-51",
  "wild animals crossing": "DE:142-10",
  "end of all speed and passing limits": "DE:282",
  "turn right ahead": "DE:209-20",
  "turn left ahead": "DE:209-10",
  "ahead only": "DE:209-30",
  "go straight or right": "DE:214-20",
  "go straight or left": "DE:214-10",
  "keep right": "DE:222-20",
  "keep left": "DE:222-10",
  "roundabout mandatory": "DE:215",
  "end of no passing": "DE:280",
  "end of no passing by vehicles over 3.5 metric tons": "DE:281",
};

/** The classes the mapping knows (the GTSRB labels, and COCO's stop sign). */
export const osmSignLabels: readonly string[] = Object.keys(DE);

/** OSM tags of a sign of this class facing travellers with this heading; null for a class without a German number. */
export function osmSignTags(label: string, heading: number): Record<string, string> | null {
  const sign = DE[label];
  if (!sign) return null;
  const tags: Record<string, string> = { traffic_sign: sign };
  const limit = /^DE:274\[(\d+)\]$/.exec(sign);
  if (limit) tags.maxspeed = limit[1]!;
  // a sign node's direction is the way the traffic it applies to travels (the OSM wiki's "forward" convention)
  tags.direction = String(Math.round(heading) % 360);
  return tags;
}

import { describe, expect, it } from "vitest";
import { pointInPolygon, polygonProblem, segmentsIntersect, signedDistance, toPixels, type Point } from "../../agent/core/geometry.js";

const square: Point[] = [
  [100, 100],
  [200, 100],
  [200, 200],
  [100, 200],
];

describe("geometry", () => {
  it("point in polygon: inside, outside, and on edges and corners counts as inside", () => {
    expect(pointInPolygon([150, 150], square)).toBe(true);
    expect(pointInPolygon([250, 150], square)).toBe(false);
    expect(pointInPolygon([50, 150], square)).toBe(false);
    expect(pointInPolygon([100, 150], square)).toBe(true); // left edge
    expect(pointInPolygon([150, 200], square)).toBe(true); // bottom edge
    expect(pointInPolygon([200, 200], square)).toBe(true); // corner
    expect(pointInPolygon([200.01, 200], square)).toBe(false);
    // concave: an L shape's notch is outside
    const l: Point[] = [
      [0, 0],
      [100, 0],
      [100, 40],
      [40, 40],
      [40, 100],
      [0, 100],
    ];
    expect(pointInPolygon([70, 70], l)).toBe(false);
    expect(pointInPolygon([20, 70], l)).toBe(true);
    // a ray through a vertex is counted once
    const diamond: Point[] = [
      [50, 0],
      [100, 50],
      [50, 100],
      [0, 50],
    ];
    expect(pointInPolygon([20, 50], diamond)).toBe(true);
    expect(pointInPolygon([-10, 50], diamond)).toBe(false);
  });

  it("sides of a line in image coordinates (y down): the walker's left is negative", () => {
    // A line drawn down the middle of the picture, walked from top to bottom: facing the bottom of the
    // picture, the walker's left hand points to the picture's right.
    const top: Point = [320, 0];
    const bottom: Point = [320, 360];
    expect(signedDistance(top, bottom, [400, 180])).toBeLessThan(0);
    expect(signedDistance(top, bottom, [200, 180])).toBeGreaterThan(0);
    expect(signedDistance(top, bottom, [200, 180])).toBeCloseTo(120);
    // A horizontal line walked left to right: the left is the top of the picture.
    expect(signedDistance([0, 200], [640, 200], [300, 100])).toBeLessThan(0);
    expect(signedDistance([0, 200], [640, 200], [300, 300])).toBeGreaterThan(0);
  });

  it("segments: crossing, touching, collinear overlap and disjoint", () => {
    expect(segmentsIntersect([0, 0], [10, 10], [0, 10], [10, 0])).toBe(true);
    expect(segmentsIntersect([0, 0], [10, 0], [10, 0], [20, 5])).toBe(true); // shared end
    expect(segmentsIntersect([0, 0], [10, 0], [5, 0], [15, 0])).toBe(true); // collinear overlap
    expect(segmentsIntersect([0, 0], [10, 0], [11, 0], [15, 0])).toBe(false); // collinear apart
    expect(segmentsIntersect([0, 0], [10, 0], [5, 1], [5, 10])).toBe(false); // would meet only on the extension
  });

  it("degenerate polygons are named", () => {
    expect(polygonProblem(square)).toBeNull();
    expect(
      polygonProblem([
        [0, 0],
        [10, 0],
        [0, 0],
      ]),
    ).toMatch(/3 distinct points/);
    expect(
      polygonProblem([
        [0, 0],
        [10, 10],
        [20, 20],
      ]),
    ).toMatch(/zero area/);
    expect(
      polygonProblem([
        [0, 0],
        [100, 100],
        [100, 0],
        [0, 100],
      ]),
    ).toMatch(/intersects itself/);
  });

  it("fractions become pixels; pixel coordinates stay", () => {
    expect(
      toPixels(
        [
          [0, 0],
          [0.5, 1],
        ],
        640,
        360,
      ),
    ).toEqual([
      [0, 0],
      [320, 360],
    ]);
    expect(
      toPixels(
        [
          [0, 0],
          [10, 1],
        ],
        640,
        360,
      ),
    ).toEqual([
      [0, 0],
      [10, 1],
    ]);
  });
});

"""Least-squares polynomial fitting in plain Python: a shared module the tasks name with
`dependency "curvefit/**";` (it lives in the project's dependencies folder)."""


def fit(points, degree):
    """Coefficients c0..c_degree minimising the squared error (normal equations, Gauss-Jordan)."""
    n = degree + 1
    a = [[sum(x ** (i + j) for x, _ in points) for j in range(n)] for i in range(n)]
    b = [sum(y * x ** i for x, y in points) for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot], b[col], b[pivot] = a[pivot], a[col], b[pivot], b[col]
        for row in range(n):
            if row != col and a[col][col]:
                f = a[row][col] / a[col][col]
                a[row] = [u - f * v for u, v in zip(a[row], a[col], strict=True)]
                b[row] -= f * b[col]
    return [b[i] / a[i][i] if a[i][i] else 0.0 for i in range(n)]


def predict(coefficients, x):
    return sum(c * x ** i for i, c in enumerate(coefficients))
